// Every scale of both recipes plans, and its layout is what the degrees say:
// the module rank ranges cover 0..W-1 exactly once, and every rank's role,
// module coordinates and groups (dense and expert views) agree with
// expectations computed here from the degrees alone, not from RankGrid.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "hetero/errors.h"
#include "hetero/topology.h"
#include "launch_util.h"

namespace hetero {
namespace {

using launch_test::recipe;
using Ranks = std::vector<int>;

const std::vector<std::string> kRecipes = {"nemotron_20l", "nemotron_54l"};
const std::vector<std::string> kRequiredScales = {"tiny", "1n", "9n", "17n", "33n", "68n", "100n"};

std::vector<std::string> scales_of(const std::string& name) {
  return load_recipe(recipe(name), "tiny", {}).scale_names;
}

// A module's degrees as the recipe gives them, and what follows from them.
struct Degrees {
  int offset, size, tp, cp, pp, ep, etp;
  int dp() const { return size / (tp * cp * pp); }
  int stage() const { return tp * cp * dp(); }
  int edp() const { return stage() / (etp * ep); }
};

// Checks every rank of one module against the degrees; `role` names it in messages.
void check_module(const ModuleLayout& m, const Degrees& d, const std::string& role) {
  SCOPED_TRACE(role);
  ASSERT_EQ(m.offset, d.offset);
  ASSERT_EQ(m.dims.size, d.size);
  ASSERT_EQ(d.tp * d.cp * d.dp() * d.pp, d.size) << "degrees do not tile the module";
  ASSERT_EQ(d.etp * d.ep * d.edp(), d.stage()) << "expert view does not tile a stage";
  const RankGrid g = m.grid();
  const RankGrid x = m.expert_grid();
  const int S = d.stage();
  for (int rank = d.offset; rank < d.offset + d.size; ++rank) {
    const int local = rank - d.offset;
    // tp fastest, then cp, dp, pp.
    const int tp = local % d.tp, cp = (local / d.tp) % d.cp, dp = (local / (d.tp * d.cp)) % d.dp(), pp = local / S;
    ASSERT_EQ(g.coord(rank, "tp"), tp) << "rank " << rank;
    ASSERT_EQ(g.coord(rank, "cp"), cp) << "rank " << rank;
    ASSERT_EQ(g.coord(rank, "dp"), dp) << "rank " << rank;
    ASSERT_EQ(g.coord(rank, "pp"), pp) << "rank " << rank;
    const int stage_base = d.offset + pp * S;
    Ranks tp_group, dp_group, pp_group;
    for (int k = 0; k < d.tp; ++k) tp_group.push_back(stage_base + dp * d.tp * d.cp + cp * d.tp + k);
    for (int k = 0; k < d.dp(); ++k) dp_group.push_back(stage_base + k * d.tp * d.cp + cp * d.tp + tp);
    for (int k = 0; k < d.pp; ++k) pp_group.push_back(d.offset + k * S + local % S);
    ASSERT_EQ(g.group_of(rank, {"tp"}), tp_group) << "rank " << rank;
    ASSERT_EQ(g.group_of(rank, {"dp"}), dp_group) << "rank " << rank;
    ASSERT_EQ(g.group_of(rank, {"pp"}), pp_group) << "rank " << rank;
    ASSERT_EQ(g.rank_in_group(rank, {"tp"}), tp);
    ASSERT_EQ(g.rank_in_group(rank, {"dp"}), dp);
    // Expert view of the same stage: etp fastest, then ep, edp.
    const int in_stage = local % S;
    const int etp = in_stage % d.etp, ep = (in_stage / d.etp) % d.ep, edp = in_stage / (d.etp * d.ep);
    ASSERT_EQ(x.coord(rank, "etp"), etp) << "rank " << rank;
    ASSERT_EQ(x.coord(rank, "ep"), ep) << "rank " << rank;
    ASSERT_EQ(x.coord(rank, "edp"), edp) << "rank " << rank;
    ASSERT_EQ(x.coord(rank, "pp"), pp) << "rank " << rank;
    Ranks ep_group, edp_group;
    for (int k = 0; k < d.ep; ++k) ep_group.push_back(stage_base + edp * d.etp * d.ep + k * d.etp + etp);
    for (int k = 0; k < d.edp(); ++k) edp_group.push_back(stage_base + k * d.etp * d.ep + ep * d.etp + etp);
    ASSERT_EQ(x.group_of(rank, {"ep"}), ep_group) << "rank " << rank;
    ASSERT_EQ(x.group_of(rank, {"edp"}), edp_group) << "rank " << rank;
  }
  // The groups of each family partition the module.
  for (const auto& dims : std::vector<std::vector<std::string>>{{"tp"}, {"dp"}, {"pp"}, {"tp", "cp"}}) {
    std::vector<int> seen(d.size, 0);
    for (const auto& group : g.all_groups(dims))
      for (int r : group) ++seen.at(r - d.offset);
    ASSERT_TRUE(std::all_of(seen.begin(), seen.end(), [](int n) { return n == 1; })) << dims.front();
  }
}

Degrees degrees(const ModuleScale& s, int offset) { return {offset, s.ranks, s.tp, s.cp, s.pp, s.ep, s.etp}; }

TEST(PlanCoverage, BothRecipesDefineEveryScale) {
  for (const auto& name : kRecipes) {
    const auto scales = scales_of(name);
    for (const auto& s : kRequiredScales)
      EXPECT_NE(std::find(scales.begin(), scales.end(), s), scales.end()) << name << " has no scale " << s;
  }
}

TEST(PlanCoverage, EveryRankHasOneRoleAndGridCoordinates) {
  for (const auto& name : kRecipes) {
    for (const auto& scale : scales_of(name)) {
      SCOPED_TRACE(name + " " + scale);
      Recipe r;
      JobTopology t;
      try {
        r = load_recipe(recipe(name), scale, {});
        t = plan_topology(r);
      } catch (const ConfigError& e) {
        ADD_FAILURE() << e.what();
        continue;
      }
      const ScaleConfig& sc = r.scale;
      const int W = sc.nodes * sc.gpus_per_node;
      ASSERT_EQ(t.world_size, W);
      ASSERT_TRUE(t.hetero()) << "every named scale is non-colocated";

      // The module ranges partition 0..W-1: encoder first, LLM after it.
      std::vector<int> owners(W, 0);
      for (const ModuleLayout* m : {&t.encoder, &t.llm})
        for (int rank = m->offset; rank < m->end(); ++rank) ++owners.at(rank);
      for (int rank = 0; rank < W; ++rank) ASSERT_EQ(owners[rank], 1) << "rank " << rank;
      for (int rank = 0; rank < W; ++rank) {
        const bool encoder = rank < sc.encoder.ranks;
        ASSERT_EQ(t.encoder.contains(rank), encoder) << "rank " << rank;
        ASSERT_EQ(t.llm.contains(rank), !encoder) << "rank " << rank;
      }
      // Whole nodes per module from 9n up: no node holds both.
      if (sc.encoder.nodes > 0) {
        EXPECT_EQ(sc.encoder.nodes + sc.llm.nodes, sc.nodes);
        EXPECT_EQ(t.encoder.dims.size % sc.gpus_per_node, 0);
      }

      check_module(t.encoder, degrees(sc.encoder, 0), "encoder");
      check_module(t.llm, degrees(sc.llm, sc.encoder.ranks), "llm");

      // Lanes: one per LLM dp replica; each lane is fed by its encoder
      // replica(s), and every (replica, lane) pair is seen from both sides.
      const int lanes = sc.llm.ranks / (sc.llm.tp * sc.llm.cp * sc.llm.pp);
      const int enc = sc.encoder.ranks / (sc.encoder.tp * sc.encoder.cp * sc.encoder.pp);
      ASSERT_EQ(t.lanes(), lanes);
      ASSERT_EQ(t.encoder_replicas(), enc);
      std::vector<int> fed(lanes, 0);
      for (int e = 0; e < enc; ++e)
        for (int lane : t.lanes_of_encoder_replica(e)) {
          ++fed.at(lane);
          const auto back = t.encoder_replicas_of_lane(lane);
          ASSERT_NE(std::find(back.begin(), back.end(), e), back.end()) << "lane " << lane << " encoder " << e;
        }
      for (int lane = 0; lane < lanes; ++lane)
        ASSERT_EQ(fed[lane], std::max(1, enc / lanes)) << "lane " << lane;

      // The global batch splits evenly; iterations come from the schedule.
      ASSERT_EQ(t.num_microbatches() * r.train.micro_batch_size * lanes, r.train.global_batch_size);
      if (r.train.train_samples > 0) {
        const std::int64_t gbs = r.train.global_batch_size;
        EXPECT_EQ(r.train.train_iters, (r.train.train_samples + gbs - 1) / gbs);
      }
      EXPECT_GT(r.train.train_iters, 0);
    }
  }
}

// The production scales share one global batch and use the layouts of the
// production runs: encoder tp=1 on 1 or 4 nodes, LLM tp=2 (with ep=8 on MoE).
TEST(PlanCoverage, ProductionLayouts) {
  struct Want {
    std::string scale;
    int enc_nodes, llm_nodes, lanes, microbatches;
  };
  const std::vector<Want> want = {{"9n", 1, 8, 32, 24},
                                  {"17n", 1, 16, 64, 12},
                                  {"33n", 1, 32, 128, 6},
                                  {"68n", 4, 64, 256, 3},
                                  {"100n", 4, 96, 384, 2}};
  for (const auto& name : kRecipes) {
    for (const auto& w : want) {
      SCOPED_TRACE(name + " " + w.scale);
      const Recipe r = load_recipe(recipe(name), w.scale, {});
      const JobTopology t = plan_topology(r);
      EXPECT_EQ(r.train.global_batch_size, 768);
      EXPECT_EQ(r.scale.encoder.nodes, w.enc_nodes);
      EXPECT_EQ(r.scale.llm.nodes, w.llm_nodes);
      EXPECT_EQ(t.encoder.dims.tp, 1);
      EXPECT_EQ(t.llm.dims.tp, 2);
      EXPECT_EQ(t.llm.dims.ep, name == "nemotron_54l" ? 8 : 1);
      EXPECT_EQ(t.lanes(), w.lanes);
      EXPECT_EQ(t.num_microbatches(), w.microbatches);
    }
  }
}

TEST(PlanCoverage, HeteroLaunchPlanSucceedsForEveryScale) {
  for (const auto& name : kRecipes) {
    for (const auto& scale : scales_of(name)) {
      const auto r = launch_test::run({launch_test::bin("hetero-launch"), "plan", "--recipe", recipe(name), "--scale", scale});
      EXPECT_EQ(r.exit_code, 0) << name << " " << scale << ": " << r.err;
      EXPECT_NE(r.out.find("scale " + scale + ":"), std::string::npos) << r.out;
      EXPECT_NE(r.out.find("iterations:"), std::string::npos) << r.out;
    }
  }
}

}  // namespace
}  // namespace hetero
