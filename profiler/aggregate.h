// Per-iteration aggregation, streaming: each rank's events are summed per
// iteration while its file is read, then folded into its (module, stage)
// group and dropped. What stays in memory is O(groups x iterations) plus
// one compute value per rank and iteration (for stragglers).
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "categories.h"
#include "source.h"

namespace hetero::profiler {

using Ns = std::int64_t;
inline constexpr Ns kNoStart = std::numeric_limits<Ns>::max();
inline constexpr Ns kNoEnd = std::numeric_limits<Ns>::min();

// One rank's iteration: summed event durations per region.
struct RankIter {
  std::array<Ns, kNumRegions> region{};
  std::array<int, kNumRegions> events{};
  Ns start = kNoStart, end = kNoEnd;  // earliest event start, latest event end

  Ns category(Category c) const;
  bool has_category(Category c) const;
};

// Sums a rank's events per iteration as they stream by.
class RankCollector : public RankVisitor {
 public:
  void on_event(const Event& e) override;
  std::map<int, RankIter> iters;
};

// One iteration of a group of ranks (a module's stage, or a whole module).
struct GroupIter {
  int ranks = 0;  // ranks with at least one event in the iteration
  std::array<Ns, kNumRegions> region_sum{};
  std::array<int, kNumRegions> region_ranks{};  // ranks that recorded the region
  std::array<Ns, kNumCategories> category_sum{}, category_max{};
  std::array<int, kNumCategories> category_ranks{};  // ranks that recorded the category
  Ns start = kNoStart, end = kNoEnd;

  void add(const RankIter& r);
  void merge(const GroupIter& g);
  Ns step() const { return end > start ? end - start : 0; }
  // Mean over the ranks that recorded the category (0 if none did).
  double category_mean(Category c) const;
  // Mean over the ranks that recorded the region.
  double region_mean(int region) const;
};

struct GroupKey {
  std::string module;
  int stage = 0;
  bool operator<(const GroupKey& o) const { return module != o.module ? module < o.module : stage < o.stage; }
};

// One rank's compute per iteration (iteration, ns), for stragglers.
struct RankSeries {
  RankRole role;
  std::vector<std::pair<int, Ns>> compute;
};

struct Aggregate {
  std::map<GroupKey, std::map<int, GroupIter>> groups;
  std::map<GroupKey, int> group_ranks;  // ranks per group
  std::map<int, GroupIter> job;         // all ranks together
  std::vector<RankSeries> ranks;

  // Folds one rank's finished iterations in.
  void add_rank(const RankRole& role, const std::map<int, RankIter>& iters);
  // Modules in report order (encoder, llm, colocated, unknown) with their groups.
  std::vector<std::string> modules() const;
  int module_ranks(const std::string& module) const;
  // The module's iterations: its stages' groups merged.
  std::map<int, GroupIter> module_iters(const std::string& module) const;
};

}  // namespace hetero::profiler
