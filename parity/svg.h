// One self-contained SVG of a parity Report: the two lm loss curves over
// iterations (top panel) and |relative difference| on a log axis with the
// loss tolerance drawn in (bottom panel). No scripts, fonts or links.
#pragma once

#include <string>

#include "compare.h"

namespace hetero::parity {

std::string render_svg(const Report& r);

}  // namespace hetero::parity
