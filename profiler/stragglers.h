// Stragglers: ranks whose compute is slow next to their peers (the ranks of
// the same module and pipeline stage, which run the same work).
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "aggregate.h"
#include "report.h"

namespace hetero::profiler {

// A rank's compute is the median, over the iterations in `analysed[module]`,
// of its compute time. z = (compute - mean of its peers) / std of its peers
// (itself included, population std; z = 0 when std is 0). Returns the `top`
// ranks with z > 0, largest z first (ties: larger compute, lower rank);
// `flagged` marks z >= z_threshold.
std::vector<Straggler> find_stragglers(const std::vector<RankSeries>& ranks,
                                       const std::map<std::string, std::set<int>>& analysed, int top,
                                       double z_threshold);

}  // namespace hetero::profiler
