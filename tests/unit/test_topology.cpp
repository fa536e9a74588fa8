// Topology of the real recipes and the rules that reject bad layouts before
// any process group exists (design §3).
#include <gtest/gtest.h>

#include <set>

#include "hetero/errors.h"
#include "hetero/topology.h"

namespace hetero {
namespace {

std::string recipe_dir(const std::string& name) { return std::string(HETERO_SOURCE_DIR) + "/recipes/" + name; }

JobTopology plan(const std::string& recipe, const std::string& scale, const std::vector<std::string>& sets = {}) {
  return plan_topology(load_recipe(recipe_dir(recipe), scale, sets));
}

// Runs `plan` expecting a ConfigError; returns its problems.
std::vector<std::string> problems_of(const std::vector<std::string>& sets) {
  try {
    plan("nemotron_20l", "tiny", sets);
  } catch (const ConfigError& e) {
    return e.problems();
  }
  ADD_FAILURE() << "no ConfigError";
  return {};
}

bool mentions(const std::vector<std::string>& problems, const std::string& text) {
  for (const auto& p : problems)
    if (p.find(text) != std::string::npos) return true;
  return false;
}

TEST(Topology, Nemotron20l9n) {
  const JobTopology t = plan("nemotron_20l", "9n");
  EXPECT_TRUE(t.hetero());
  EXPECT_EQ(t.world_size, 72);
  EXPECT_EQ(t.encoder.offset, 0);
  EXPECT_EQ(t.encoder.end(), 8);
  EXPECT_EQ(t.encoder.dims.dp(), 8);
  EXPECT_EQ(t.llm.offset, 8);
  EXPECT_EQ(t.llm.end(), 72);
  EXPECT_EQ(t.llm.dims.tp, 2);
  EXPECT_EQ(t.lanes(), 32);
  EXPECT_EQ(t.lanes_per_encoder(), 4);
  EXPECT_EQ(t.encoders_per_lane(), 1);
  EXPECT_EQ(t.num_microbatches(), 768 / 32);  // global batch / (micro batch 1 x 32 lanes)
  EXPECT_EQ(t.logging_rank(), 8);
}

TEST(Topology, TinyDefaultIsOneEncoderFeedingTwoLanes) {
  const JobTopology t = plan("nemotron_20l", "tiny");
  EXPECT_EQ(t.world_size, 3);
  EXPECT_EQ(t.lanes(), 2);
  EXPECT_EQ(t.lanes_per_encoder(), 2);
  EXPECT_EQ(t.num_microbatches(), 4);  // GBS 8 / (MBS 1 x 2 lanes)
  EXPECT_EQ(t.samples_per_lane(), 4);
}

TEST(Topology, ColocatedSharesOneGrid) {
  const JobTopology t = plan("nemotron_20l", "tiny", {"scales.tiny.mode=colocated", "scales.tiny.llm.ranks=2",
                                                      "scales.tiny.gpus_per_node=2"});
  EXPECT_FALSE(t.hetero());
  EXPECT_EQ(t.world_size, 2);
  EXPECT_EQ(t.encoder.offset, 0);
  EXPECT_EQ(t.encoder_replicas(), 2);
  EXPECT_EQ(t.lanes(), 2);
}

// Fan-out and fan-in maps are inverse to each other and cover every lane
// and every encoder replica.
TEST(Topology, LaneMapsAreConsistent) {
  for (const auto& sets : std::vector<std::vector<std::string>>{
           {"scales.tiny.encoder.ranks=1", "scales.tiny.llm.ranks=4", "scales.tiny.gpus_per_node=5",
            "train.global_batch_size=8"},
           {"scales.tiny.encoder.ranks=4", "scales.tiny.llm.ranks=2", "scales.tiny.gpus_per_node=6"},
           {"scales.tiny.encoder.ranks=2", "scales.tiny.llm.ranks=2", "scales.tiny.gpus_per_node=4"}}) {
    const JobTopology t = plan("nemotron_20l", "tiny", sets);
    std::set<int> replicas_seen;
    for (int lane = 0; lane < t.lanes(); ++lane) {
      const auto reps = t.encoder_replicas_of_lane(lane);
      EXPECT_EQ(static_cast<int>(reps.size()), t.encoders_per_lane());
      for (int e : reps) {
        replicas_seen.insert(e);
        const auto lanes = t.lanes_of_encoder_replica(e);
        EXPECT_NE(std::find(lanes.begin(), lanes.end(), lane), lanes.end()) << "replica " << e << " lane " << lane;
      }
    }
    EXPECT_EQ(static_cast<int>(replicas_seen.size()), t.encoder_replicas());
  }
}

TEST(Topology, FanInImageRangesAreContiguousAndComplete) {
  for (int n = 0; n <= 7; ++n)
    for (int parts = 1; parts <= 4; ++parts) {
      int next = 0;
      for (int p = 0; p < parts; ++p) {
        const auto [b, e] = fan_in_image_range(n, parts, p);
        EXPECT_EQ(b, next) << n << "/" << parts;
        EXPECT_GE(e, b);
        EXPECT_LE(e - b, (n + parts - 1) / parts);  // balanced
        next = e;
      }
      EXPECT_EQ(next, n);
    }
}

TEST(Topology, RulesNameTheNumbers) {
  EXPECT_TRUE(mentions(problems_of({"scales.tiny.llm.tp=3", "scales.tiny.llm.ranks=3", "scales.tiny.gpus_per_node=4",
                                    "train.global_batch_size=9"}),
                       "scales.tiny.llm.tp=3 does not divide model.llm.num_attention_heads=4"));
  EXPECT_TRUE(mentions(problems_of({"train.global_batch_size=7"}),
                       "train.global_batch_size=7 is not divisible by micro_batch_size*llm_dp=1*2=2"));
  EXPECT_TRUE(mentions(problems_of({"scales.tiny.encoder.ranks=2", "scales.tiny.llm.ranks=3",
                                    "scales.tiny.gpus_per_node=5", "train.global_batch_size=6"}),
                       "encoder dp=2 and llm dp=3 must divide one another"));
  EXPECT_TRUE(mentions(problems_of({"scales.tiny.llm.tp=4"}), "has 2 ranks, not a multiple of tp*cp*pp=4*1*1=4"));
  EXPECT_TRUE(mentions(problems_of({"scales.tiny.gpus_per_node=4"}),
                       "encoder 1 + llm 2 = 3 ranks, but nodes*gpus_per_node = 1*4 = 4"));
  EXPECT_TRUE(mentions(problems_of({"scales.tiny.llm.ep=2"}), "the model has no experts (model.llm.n_routed_experts=0)"));
}

TEST(Topology, PipelineAndVocabularyRulesAreCheckedBeforeLaunch) {
  // pp=2 with 4 microbatches per lane: stage 0 runs 2 forwards before its first backward.
  EXPECT_TRUE(mentions(problems_of({"scales.tiny.llm.pp=2", "scales.tiny.llm.ranks=2", "train.encoder_run_ahead=1"}),
                       "train.encoder_run_ahead=1 is below 2 (llm pp=2)"));
  EXPECT_NO_THROW(plan("nemotron_20l", "tiny", {"scales.tiny.llm.pp=2", "train.encoder_run_ahead=2"}));
  EXPECT_TRUE(mentions(problems_of({"scales.tiny.llm.tp=2", "scales.tiny.llm.ranks=2", "model.llm.vocab_size=63"}),
                       "scales.tiny.llm.tp=2 does not divide model.llm.vocab_size=63"));
}

TEST(Topology, HybridLayerWidthsMustSplitOverTheirGroups) {
  // tiny: pattern M-M*, 2 key-value heads, 4 Mamba-2 heads in 2 groups.
  const auto problems = problems_of({"scales.tiny.llm.tp=4", "scales.tiny.llm.ranks=4", "scales.tiny.gpus_per_node=5",
                                     "train.global_batch_size=8"});
  EXPECT_TRUE(mentions(problems, "scales.tiny.llm.tp=4 does not divide model.llm.num_query_groups=2"));
  EXPECT_TRUE(mentions(problems, "scales.tiny.llm.tp=4 does not divide model.llm.n_groups=2"));
  EXPECT_FALSE(mentions(problems, "does not divide model.llm.mamba_num_heads"));  // 4 heads split over 4
  // An all-MLP pattern has neither rule.
  EXPECT_FALSE(mentions(problems_of({"scales.tiny.llm.tp=4", "scales.tiny.llm.ranks=4", "scales.tiny.gpus_per_node=5",
                                     "model.llm.hybrid_override_pattern=----", "model.llm.vocab_size=63"}),
                        "num_query_groups"));
}

TEST(Topology, SequenceParallelNeedsTpToSplitTheSequence) {
  // tiny: seq_length 48; tp=2 splits it, and sp is carried into the llm's dims.
  const JobTopology t = plan("nemotron_20l", "tiny", {"scales.tiny.llm.tp=2", "scales.tiny.llm.sp=true"});
  EXPECT_TRUE(t.llm.dims.sp);
  EXPECT_FALSE(plan("nemotron_20l", "tiny").llm.dims.sp);
  const auto problems = problems_of({"scales.tiny.llm.tp=2", "scales.tiny.llm.sp=true", "model.llm.seq_length=47"});
  EXPECT_TRUE(mentions(problems, "tp=2 does not divide model.llm.seq_length=47")) << problems.front();
  // Without sp the same length is fine for the dense layers of 20L.
  EXPECT_NO_THROW(plan("nemotron_20l", "tiny", {"scales.tiny.llm.tp=2", "model.llm.seq_length=47"}));
  EXPECT_TRUE(mentions(problems_of({"scales.tiny.encoder.sp=true"}), "scales.tiny.encoder.sp"));
}

TEST(Topology, AllViolationsReportedTogether) {
  const auto problems = problems_of({"train.global_batch_size=7", "scales.tiny.llm.ep=2"});
  EXPECT_EQ(problems.size(), 2u);
}

}  // namespace
}  // namespace hetero
