// The bridge's traffic counter (metrics.jsonl bridge_bytes): an encoder
// sends each lane's embeddings once, to tp rank 0 of the lane's first stage,
// however wide the LLM's tensor parallelism; that rank shares them over its
// tp group. So one lane fed at llm tp=2 costs the encoder exactly what it
// costs at tp=1 (sending to every tp rank would double it), and a colocated
// run moves nothing over the bridge.
#include <gtest/gtest.h>

#include "hetero/run_dir.h"
#include "process.h"

namespace hetero::test {
namespace {

constexpr int kIters = 3;

std::vector<IterationMetrics> train(const std::string& name, const std::vector<std::string>& sets) {
  const std::string out = fresh_dir(name);
  std::vector<std::string> argv{bin("hetero-launch"), "local", "--recipe", recipe("nemotron_20l"), "--scale",
                                "tiny", "--out", out, "--iters", std::to_string(kIters)};
  for (const auto& s : sets) argv.insert(argv.end(), {"--set", "scales.tiny." + s});
  const ProcessResult r = run(argv);
  EXPECT_EQ(r.exit_code, 0) << name << " failed:\n" << r.err;
  return read_metrics(RunPaths{out}.metrics());
}

TEST(BridgeTraffic, OneLaneAtLlmTp2CostsTheSameAsAtTp1) {
  const auto tp1 = train("bridge-tp1", {"encoder.ranks=1", "llm.ranks=1", "gpus_per_node=2"});
  const auto tp2 = train("bridge-tp2", {"encoder.ranks=1", "llm.ranks=2", "llm.tp=2", "gpus_per_node=3"});
  ASSERT_EQ(tp1.size(), static_cast<size_t>(kIters));
  ASSERT_EQ(tp2.size(), static_cast<size_t>(kIters));
  for (int i = 0; i < kIters; ++i) {
    ASSERT_GT(tp1[i].images, 0) << "iteration " << i + 1 << " carries no images; the test needs some";
    EXPECT_GT(tp1[i].bridge_bytes, 0) << "iteration " << i + 1;
    EXPECT_EQ(tp2[i].bridge_bytes, tp1[i].bridge_bytes) << "iteration " << i + 1;
  }
}

TEST(BridgeTraffic, ColocatedRunsMoveNothing) {
  const auto single = train("bridge-colocated", {"mode=colocated", "llm.ranks=1", "gpus_per_node=1"});
  ASSERT_EQ(single.size(), static_cast<size_t>(kIters));
  for (const auto& m : single) EXPECT_EQ(m.bridge_bytes, 0) << "iteration " << m.iter;
}

}  // namespace
}  // namespace hetero::test
