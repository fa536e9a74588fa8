// One hetero-profile command from parsed arguments to printed output: picks
// the source (run traces, nsys exports, or metrics.jsonl alone), analyses,
// renders.
#pragma once

#include <ostream>

#include "args.h"
#include "report.h"

namespace hetero::profiler {

// Builds the report the arguments ask for (no output written).
Report build_report(const ProfileArgs& args);

// Builds the report, prints text or JSON to `out`, writes --html. Returns
// the exit status (0).
int run_profile(const ProfileArgs& args, std::ostream& out);

}  // namespace hetero::profiler
