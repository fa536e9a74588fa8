#include "aggregate.h"

#include <algorithm>

namespace hetero::profiler {

Ns RankIter::category(Category c) const {
  Ns sum = 0;
  for (int r = 0; r < kNumRegions; ++r)
    if (category_of(r) == c) sum += region[r];
  return sum;
}

bool RankIter::has_category(Category c) const {
  for (int r = 0; r < kNumRegions; ++r)
    if (category_of(r) == c && events[r] > 0) return true;
  return false;
}

void RankCollector::on_event(const Event& e) {
  RankIter& it = iters[e.iter];
  it.region[e.region] += e.end_ns - e.start_ns;
  ++it.events[e.region];
  it.start = std::min(it.start, e.start_ns);
  it.end = std::max(it.end, e.end_ns);
}

void GroupIter::add(const RankIter& r) {
  ++ranks;
  for (int i = 0; i < kNumRegions; ++i) {
    region_sum[i] += r.region[i];
    if (r.events[i] > 0) ++region_ranks[i];
  }
  for (int c = 0; c < kNumCategories; ++c) {
    const Category cat = category_at(c);
    if (!r.has_category(cat)) continue;
    const Ns v = r.category(cat);
    category_sum[c] += v;
    category_max[c] = category_ranks[c] ? std::max(category_max[c], v) : v;
    ++category_ranks[c];
  }
  start = std::min(start, r.start);
  end = std::max(end, r.end);
}

void GroupIter::merge(const GroupIter& g) {
  ranks += g.ranks;
  for (int i = 0; i < kNumRegions; ++i) {
    region_sum[i] += g.region_sum[i];
    region_ranks[i] += g.region_ranks[i];
  }
  for (int c = 0; c < kNumCategories; ++c) {
    if (!g.category_ranks[c]) continue;
    category_max[c] = category_ranks[c] ? std::max(category_max[c], g.category_max[c]) : g.category_max[c];
    category_sum[c] += g.category_sum[c];
    category_ranks[c] += g.category_ranks[c];
  }
  start = std::min(start, g.start);
  end = std::max(end, g.end);
}

double GroupIter::category_mean(Category c) const {
  const int i = static_cast<int>(c);
  return category_ranks[i] ? static_cast<double>(category_sum[i]) / category_ranks[i] : 0.0;
}

double GroupIter::region_mean(int region) const {
  return region_ranks[region] ? static_cast<double>(region_sum[region]) / region_ranks[region] : 0.0;
}

void Aggregate::add_rank(const RankRole& role, const std::map<int, RankIter>& iters) {
  const GroupKey key{role.module, role.stage};
  ++group_ranks[key];
  auto& group = groups[key];
  RankSeries series;
  series.role = role;
  series.compute.reserve(iters.size());
  for (const auto& [iter, r] : iters) {
    group[iter].add(r);
    job[iter].add(r);
    series.compute.emplace_back(iter, r.category(Category::kCompute));
  }
  ranks.push_back(std::move(series));
}

std::vector<std::string> Aggregate::modules() const {
  static const std::vector<std::string> order = {"encoder", "llm", "colocated", "unknown"};
  std::vector<std::string> out;
  for (const auto& m : order)
    for (const auto& [key, n] : group_ranks)
      if (key.module == m) {
        out.push_back(m);
        break;
      }
  for (const auto& [key, n] : group_ranks)  // any other module name a trace carried
    if (std::find(out.begin(), out.end(), key.module) == out.end()) out.push_back(key.module);
  return out;
}

int Aggregate::module_ranks(const std::string& module) const {
  int n = 0;
  for (const auto& [key, count] : group_ranks)
    if (key.module == module) n += count;
  return n;
}

std::map<int, GroupIter> Aggregate::module_iters(const std::string& module) const {
  std::map<int, GroupIter> out;
  for (const auto& [key, iters] : groups)
    if (key.module == module)
      for (const auto& [iter, g] : iters) out[iter].merge(g);
  return out;
}

}  // namespace hetero::profiler
