// The sbatch script's own rules: the options the rendered script sets
// itself, which an extra "#SBATCH" line (--sbatch-extra or
// launch.sbatch_extra) must not set again.
#pragma once

#include <string>
#include <vector>

#include "hetero/errors.h"

namespace hetero {

// Adds one problem per extra line that is not an "#SBATCH --option" line or
// sets an option the script owns (naming where that option comes from).
void check_sbatch_extra(const std::vector<std::string>& lines, ProblemList& problems);

}  // namespace hetero
