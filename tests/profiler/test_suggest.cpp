// `hetero-profile suggest`: what it measures from a run, and the split it
// picks, against numbers worked out by hand from the model in suggest.h.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fixtures.h"
#include "hetero/errors.h"
#include "profile.h"
#include "suggest.h"

namespace hetero::profiler {
namespace {

using test::Planted;
using test::TempDir;

// The tiny scale's shape: one encoder replica feeding two lanes of one
// stage, four microbatches per lane; per-rank replicas (tp=cp=pp=1).
SuggestInputs tiny(double encoder_forward_ms) {
  SuggestInputs in;
  in.encoder_forward_ms = encoder_forward_ms;
  in.encoder_backward_ms = 5;
  in.llm_stage_ms = 20;
  in.sync_ms = 3;
  in.encoder_replicas = 1;
  in.lanes = 2;
  in.microbatches = 4;
  return in;
}

const SplitPrediction& split(const Suggestion& s, int encoder_nodes) {
  for (const SplitPrediction& p : s.splits)
    if (p.encoder_nodes == encoder_nodes) return p;
  throw std::runtime_error("no split with " + std::to_string(encoder_nodes) + " encoder nodes");
}

// 3 nodes of 1 GPU: 1+2 (1 replica, 2 lanes of 4 microbatches) or 2+1
// (2 replicas, 1 lane of 8). The encoder's work per iteration is fixed:
// at 2+1 each replica does a quarter of it per microbatch.
TEST(Suggest, AFastEncoderKeepsTheNodesOnTheLlm) {
  const Suggestion s = suggest_split(tiny(10), 3, 1);
  ASSERT_EQ(s.splits.size(), 2u);
  const SplitPrediction& a = split(s, 1);
  EXPECT_EQ(a.encoder_replicas, 1);
  EXPECT_EQ(a.lanes, 2);
  EXPECT_EQ(a.microbatches, 4);
  EXPECT_DOUBLE_EQ(a.encoder_ms, 4 * (10 + 5));
  EXPECT_DOUBLE_EQ(a.llm_ms, 4 * 20);
  // LLM-bound: max(10 + 80 + 5, 60 + 20) = 95, + 3 sync; the LLM waits for
  // the first forward only.
  EXPECT_DOUBLE_EQ(a.step_ms, 98);
  EXPECT_DOUBLE_EQ(a.encoder_stall_ms, 10);
  const SplitPrediction& b = split(s, 2);
  EXPECT_EQ(b.encoder_replicas, 2);
  EXPECT_EQ(b.lanes, 1);
  EXPECT_EQ(b.microbatches, 8);
  EXPECT_DOUBLE_EQ(b.encoder_ms, 8 * (2.5 + 1.25));
  EXPECT_DOUBLE_EQ(b.llm_ms, 8 * 20);
  EXPECT_DOUBLE_EQ(b.step_ms, 2.5 + 160 + 1.25 + 3);
  ASSERT_TRUE(s.best);
  EXPECT_EQ(s.best->encoder_nodes, 1);
  EXPECT_EQ(s.best->llm_nodes, 2);
  // The model at the measured split is the 1+2 prediction.
  ASSERT_TRUE(s.current);
  EXPECT_DOUBLE_EQ(s.current->step_ms, 98);
}

TEST(Suggest, ASlowEncoderGetsMoreNodes) {
  const Suggestion s = suggest_split(tiny(100), 3, 1);
  // 1+2 is encoder-bound: 4 x 105 + 20 = 440 (+3); the LLM stalls
  // 440 - 5 - 80 = 355 ms.
  EXPECT_DOUBLE_EQ(split(s, 1).step_ms, 443);
  EXPECT_DOUBLE_EQ(split(s, 1).encoder_stall_ms, 355);
  // 2+1: max(25 + 160 + 1.25, 8 x 26.25 + 20) = 230 (+3).
  EXPECT_DOUBLE_EQ(split(s, 2).step_ms, 233);
  EXPECT_DOUBLE_EQ(split(s, 2).encoder_stall_ms, 230 - 1.25 - 160);
  ASSERT_TRUE(s.best);
  EXPECT_EQ(s.best->encoder_nodes, 2);
}

TEST(Suggest, SplitsTheTrainerWouldRejectAreListedWithTheirReason) {
  // Nodes of 3 GPUs give 3 or 6 lanes, and neither divides 8 microbatches.
  const Suggestion s = suggest_split(tiny(10), 3, 3);
  EXPECT_TRUE(s.splits.empty());
  EXPECT_FALSE(s.best);
  ASSERT_EQ(s.rejected.size(), 2u);
  EXPECT_NE(s.rejected[0].find("1+2 nodes: 6 lanes do not divide the global batch's 8 microbatches"),
            std::string::npos)
      << s.rejected[0];
  EXPECT_NE(s.rejected[1].find("2+1 nodes: 3 lanes"), std::string::npos) << s.rejected[1];
  EXPECT_THROW(suggest_split(tiny(10), 1, 1), ConfigError);
  EXPECT_THROW(suggest_split(tiny(10), 3, 0), ConfigError);
}

// From the planted run: 2 encoder replicas, 8 lanes of 2 stages, 2
// microbatches, nodes of 2 GPUs.
TEST(Suggest, MeasuresPerMicrobatchTimesFromTheTraces) {
  TempDir dir;
  Planted::make(5).write_run(dir.path());
  ProfileArgs a;
  a.run = dir.path();
  a.suggest = true;
  a.nodes = 9;
  const Report r = build_report(a);
  ASSERT_TRUE(r.suggestion);
  const Suggestion& s = *r.suggestion;
  EXPECT_EQ(s.gpus_per_node, 2);  // config.yaml's scale.gpus_per_node
  EXPECT_DOUBLE_EQ(s.encoder_forward_ms, Planted::kEncFwd / 1000.0);
  EXPECT_DOUBLE_EQ(s.encoder_backward_ms, Planted::kEncBwd / 1000.0);
  // The slowest stage is stage 1: 8 ranks, one 100 µs slower per microbatch.
  EXPECT_DOUBLE_EQ(s.llm_stage_ms, (Planted::kLlmFwd + Planted::kLlmBwd + Planted::kStraggle / 8.0) / 1000.0);
  EXPECT_DOUBLE_EQ(s.sync_ms, (Planted::kLlmGrad + Planted::kOptim) / 1000.0);
  ASSERT_TRUE(s.current);
  EXPECT_EQ(s.current->encoder_replicas, 2);
  EXPECT_EQ(s.current->lanes, 8);
  EXPECT_EQ(s.current->microbatches, Planted::kMicrobatches);
  // 9 nodes of 2 GPUs; a lane is 2 ranks (pp=2), so n LLM nodes hold n
  // lanes, which must divide the 16 microbatches (1+8, 5+4, 7+2, 8+1), and
  // the replicas and lanes must divide one another (not 10 and 4).
  std::vector<int> encoder_nodes;
  for (const SplitPrediction& p : s.splits) {
    encoder_nodes.push_back(p.encoder_nodes);
    EXPECT_EQ(p.encoder_replicas, 2 * p.encoder_nodes);
    EXPECT_EQ(p.lanes, p.llm_nodes);
    EXPECT_EQ(p.microbatches, 16 / p.lanes);
  }
  EXPECT_EQ(encoder_nodes, (std::vector<int>{1, 7, 8}));
}

}  // namespace
}  // namespace hetero::profiler
