#include "stragglers.h"

#include <algorithm>

#include "stats.h"

namespace hetero::profiler {

std::vector<Straggler> find_stragglers(const std::vector<RankSeries>& ranks,
                                       const std::map<std::string, std::set<int>>& analysed, int top,
                                       double z_threshold) {
  // Each rank's median compute over the analysed iterations.
  std::map<GroupKey, std::vector<std::pair<const RankSeries*, double>>> peers;
  for (const RankSeries& r : ranks) {
    const auto it = analysed.find(r.role.module);
    if (it == analysed.end()) continue;
    std::vector<double> values;
    for (const auto& [iter, ns] : r.compute)
      if (it->second.count(iter)) values.push_back(static_cast<double>(ns));
    if (values.empty()) continue;
    peers[{r.role.module, r.role.stage}].emplace_back(&r, ns_to_ms(median(values)));
  }
  std::vector<Straggler> out;
  for (const auto& [key, group] : peers) {
    std::vector<double> values;
    for (const auto& [r, ms] : group) values.push_back(ms);
    const MeanStd ms = mean_std(values);
    const double med = median(values);
    for (const auto& [r, compute] : group) {
      Straggler s;
      s.role = r->role;
      s.compute_ms = compute;
      s.peers = static_cast<int>(group.size());
      s.peer_mean_ms = ms.mean;
      s.peer_std_ms = ms.std;
      s.peer_median_ms = med;
      // A spread below the doubles' rounding is no spread at all.
      s.z = ms.std > 1e-12 * std::max(1.0, ms.mean) ? (compute - ms.mean) / ms.std : 0.0;
      s.flagged = s.z >= z_threshold;
      if (s.z > 0) out.push_back(s);
    }
  }
  std::sort(out.begin(), out.end(), [](const Straggler& a, const Straggler& b) {
    if (a.z != b.z) return a.z > b.z;
    if (a.compute_ms != b.compute_ms) return a.compute_ms > b.compute_ms;
    return a.role.rank < b.role.rank;
  });
  if (top >= 0 && static_cast<int>(out.size()) > top) out.resize(static_cast<std::size_t>(top));
  return out;
}

}  // namespace hetero::profiler
