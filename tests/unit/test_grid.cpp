// RankGrid: Megatron's order (tp fastest, then cp, dp, pp) and groups along
// any subset of dims. Expected rank lists are worked out by hand from
// rank = offset + tp + TP*(cp + CP*(dp + DP*pp)).
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "hetero/grid.h"
#include "hetero/topology.h"

namespace hetero {
namespace {

using Ranks = std::vector<int>;

RankGrid dense(int offset, int tp, int cp, int dp, int pp) {
  return RankGrid(offset, {{"tp", tp}, {"cp", cp}, {"dp", dp}, {"pp", pp}});
}

TEST(RankGrid, SmallLayoutByHand) {
  // 16 ranks from 8: tp=2, cp=1, dp=4, pp=2.
  const RankGrid g = dense(8, 2, 1, 4, 2);
  EXPECT_EQ(g.size(), 16);
  EXPECT_EQ(g.group_of(8, {"tp"}), (Ranks{8, 9}));
  EXPECT_EQ(g.group_of(11, {"tp"}), (Ranks{10, 11}));
  EXPECT_EQ(g.group_of(8, {"dp"}), (Ranks{8, 10, 12, 14}));
  EXPECT_EQ(g.group_of(17, {"dp"}), (Ranks{17, 19, 21, 23}));
  EXPECT_EQ(g.group_of(9, {"pp"}), (Ranks{9, 17}));
  // A pipeline stage: everything but pp.
  EXPECT_EQ(g.group_of(20, {"tp", "cp", "dp"}), (Ranks{16, 17, 18, 19, 20, 21, 22, 23}));
  EXPECT_EQ(g.group_of(13, {"tp", "cp", "dp", "pp"}).size(), 16u);
  EXPECT_EQ(g.group_of(13, {}), (Ranks{13}));
  EXPECT_EQ(g.coord(13, "tp"), 1);
  EXPECT_EQ(g.coord(13, "dp"), 2);
  EXPECT_EQ(g.coord(13, "pp"), 0);
  EXPECT_EQ(g.coord(22, "pp"), 1);
  EXPECT_EQ(g.rank_in_group(14, {"dp"}), 3);
}

TEST(RankGrid, ContextParallelSitsBetweenTpAndDp) {
  const RankGrid g = dense(0, 2, 2, 2, 1);  // 8 ranks
  EXPECT_EQ(g.group_of(0, {"cp"}), (Ranks{0, 2}));
  EXPECT_EQ(g.group_of(1, {"tp", "cp"}), (Ranks{0, 1, 2, 3}));
  EXPECT_EQ(g.group_of(5, {"dp"}), (Ranks{1, 5}));
}

TEST(RankGrid, CoordinatesRoundTrip) {
  const RankGrid g = dense(3, 2, 3, 2, 2);
  for (int r = g.offset(); r < g.offset() + g.size(); ++r)
    EXPECT_EQ(g.rank_at({g.coord(r, "tp"), g.coord(r, "cp"), g.coord(r, "dp"), g.coord(r, "pp")}), r);
}

// Every family of groups partitions the grid: each rank in exactly one group,
// and a group's key is the same on all its members and unique to it.
TEST(RankGrid, EveryDimSubsetPartitionsTheGrid) {
  const RankGrid g = dense(5, 2, 2, 3, 2);
  const std::vector<std::vector<std::string>> subsets{
      {"tp"}, {"cp"}, {"dp"}, {"pp"}, {"tp", "cp"}, {"cp", "dp"}, {"tp", "dp"}, {"tp", "cp", "dp"}, {"tp", "cp", "dp", "pp"}};
  for (const auto& dims : subsets) {
    std::multiset<int> seen;
    std::set<std::string> keys;
    for (const auto& group : g.all_groups(dims)) {
      const std::string key = g.group_key(group.front(), dims);
      EXPECT_TRUE(keys.insert(key).second) << key;
      for (int r : group) {
        seen.insert(r);
        EXPECT_EQ(g.group_of(r, dims), group);
        EXPECT_EQ(g.group_key(r, dims), key);
      }
    }
    EXPECT_EQ(seen.size(), static_cast<size_t>(g.size()));
    for (int r = g.offset(); r < g.offset() + g.size(); ++r) EXPECT_EQ(seen.count(r), 1u);
  }
}

TEST(RankGrid, RejectsRanksOutsideAndUnknownDims) {
  const RankGrid g = dense(8, 2, 1, 2, 1);
  EXPECT_THROW(g.coord(7, "tp"), std::out_of_range);
  EXPECT_THROW(g.coord(12, "tp"), std::out_of_range);
  EXPECT_THROW(g.group_of(8, {"ep"}), std::invalid_argument);
}

// 100 nodes x 8 GPUs: encoder on 4 nodes [0, 32) tp=1 dp=32; LLM on 96 nodes
// [32, 800) with tp=2, cp=1, pp=2, so dp=192 and each stage has 384 ranks.
TEST(RankGrid, HundredNodeLayout) {
  const RankGrid enc = dense(0, 1, 1, 32, 1);
  const RankGrid llm = dense(32, 2, 1, 192, 2);
  EXPECT_EQ(enc.size() + llm.size(), 800);
  EXPECT_EQ(enc.group_of(31, {"dp"}).front(), 0);
  EXPECT_EQ(enc.group_of(31, {"dp"}).back(), 31);

  EXPECT_EQ(llm.group_of(32, {"tp"}), (Ranks{32, 33}));
  EXPECT_EQ(llm.group_of(799, {"tp"}), (Ranks{798, 799}));
  EXPECT_EQ(llm.group_of(32, {"pp"}), (Ranks{32, 416}));      // 32 + 2*192
  EXPECT_EQ(llm.group_of(799, {"pp"}), (Ranks{415, 799}));
  EXPECT_EQ(llm.coord(500, "pp"), 1);                          // 500-32 = 468 >= 384
  EXPECT_EQ(llm.coord(500, "dp"), (468 - 384) / 2);            // 42
  EXPECT_EQ(llm.coord(500, "tp"), 0);
  const Ranks dp_of_33 = llm.group_of(33, {"dp"});
  ASSERT_EQ(dp_of_33.size(), 192u);
  EXPECT_EQ(dp_of_33[0], 33);
  EXPECT_EQ(dp_of_33[1], 35);
  EXPECT_EQ(dp_of_33.back(), 33 + 2 * 191);  // 415
  EXPECT_EQ(llm.group_of(600, {"tp", "cp", "dp"}).front(), 416);
  EXPECT_EQ(llm.group_of(600, {"tp", "cp", "dp"}).back(), 799);
  EXPECT_EQ(llm.all_groups({"tp"}).size(), 384u);
  EXPECT_EQ(llm.all_groups({"dp"}).size(), 4u);  // (tp, pp) pairs

  // Expert view of the same ranks: etp=1, ep=8, so edp = 384/8 = 48.
  const RankGrid experts(32, {{"etp", 1}, {"ep", 8}, {"edp", 48}, {"pp", 2}});
  EXPECT_EQ(experts.group_of(32, {"ep"}), (Ranks{32, 33, 34, 35, 36, 37, 38, 39}));
  EXPECT_EQ(experts.group_of(45, {"ep"}), (Ranks{40, 41, 42, 43, 44, 45, 46, 47}));
  const Ranks edp = experts.group_of(35, {"edp"});
  ASSERT_EQ(edp.size(), 48u);
  EXPECT_EQ(edp[0], 35);
  EXPECT_EQ(edp[1], 43);
  EXPECT_EQ(edp.back(), 35 + 8 * 47);  // 411, still stage 0
  EXPECT_EQ(experts.group_of(799, {"edp"}).front(), 416 + 7);
}

// ModuleLayout builds exactly these grids from its degrees.
TEST(RankGrid, ModuleLayoutViews) {
  ModuleLayout llm{"llm", 32, {768, 2, 1, 2, 8, 1}};
  EXPECT_EQ(llm.dims.dp(), 192);
  EXPECT_EQ(llm.dims.edp(), 48);
  EXPECT_EQ(llm.grid().group_of(32, {"pp"}), (Ranks{32, 416}));
  EXPECT_EQ(llm.expert_grid().group_of(35, {"edp"})[1], 43);
}

}  // namespace
}  // namespace hetero
