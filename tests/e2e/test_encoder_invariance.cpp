// Issue 7's invariance: the RADIO encoder's outputs (vision_proj rows, keyed
// by global sample index) and the losses do not depend on how the encoder is
// laid out. Mixed image sizes and text-only samples come from the tiny data.
// Each layout runs as a hetero-parity pair against one process.
#include <gtest/gtest.h>

#include "process.h"

namespace hetero::test {
namespace {

ProcessResult pair_against_one_process(const std::string& name, const std::vector<std::string>& layout) {
  std::vector<std::string> argv{bin("hetero-parity"), "run", "--recipe", recipe("nemotron_20l"), "--scale", "tiny",
                                "--reference-scale", "tiny", "--set-b", "scales.tiny.mode=colocated", "--set-b",
                                "scales.tiny.llm.ranks=1", "--set-b", "scales.tiny.gpus_per_node=1", "--iters", "10",
                                "--out", fresh_dir(name), "--dump-embeddings-at", "1,5,10", "--loss-rtol", "1e-5",
                                "--cos-min", "0.99999"};
  for (const auto& s : layout) argv.insert(argv.end(), {"--set-a", "scales.tiny." + s});
  return run(argv);
}

void expect_pass(const std::string& name, const std::vector<std::string>& layout) {
  const ProcessResult r = pair_against_one_process(name, layout);
  EXPECT_EQ(r.exit_code, 0) << name << "\n" << r.out << r.err;
  EXPECT_NE(r.out.find("PASS: 10 iterations"), std::string::npos) << r.out;
  EXPECT_EQ(count_lines_with(r.out, "vision_proj "), 3) << r.out;  // compared at every dump
}

TEST(EncoderInvariance, OneEncoderReplicaFeedingTwoLanes) { expect_pass("enc1-llm2", {}); }

TEST(EncoderInvariance, TwoEncoderReplicasSplittingOneLane) {
  expect_pass("enc2-llm1", {"encoder.ranks=2", "llm.ranks=1"});
}

TEST(EncoderInvariance, EncoderTensorParallel2) {
  expect_pass("enc-tp2", {"encoder.ranks=2", "encoder.tp=2", "llm.ranks=1"});
}

}  // namespace
}  // namespace hetero::test
