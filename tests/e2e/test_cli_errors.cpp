// Bad input ends with one clear message that names the value, the rule and
// the fix — from the launcher and, validated again, from the trainer.
#include <gtest/gtest.h>

#include "process.h"

namespace hetero::test {
namespace {

ProcessResult plan(std::vector<std::string> extra) {
  std::vector<std::string> argv{bin("hetero-launch"), "plan", "--recipe", recipe("nemotron_20l"), "--scale", "tiny"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return run(argv);
}

ProcessResult train(std::vector<std::string> extra) {
  std::vector<std::string> argv{bin("hetero-train"), "--recipe", recipe("nemotron_20l"), "--scale", "tiny",
                                "--out", fresh_dir("cli")};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return run(argv);
}

// Exactly one error line, containing every expected fragment.
void expect_one_error(const ProcessResult& r, const std::vector<std::string>& fragments) {
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(count_lines_with(r.err, "error"), 1) << r.err;
  for (const auto& f : fragments) EXPECT_NE(r.err.find(f), std::string::npos) << "missing '" << f << "' in:\n" << r.err;
}

TEST(CliErrors, TpThatDoesNotDivideHeads) {
  const std::vector<std::string> want{"scales.tiny.llm.tp=3 does not divide model.llm.num_attention_heads=4"};
  // Everything else fits tp=3 (ranks, MLP-only layers, FFN width, vocabulary, batch), so only the heads rule fails.
  const std::vector<std::string> sets{"--set", "scales.tiny.llm.tp=3",          "--set", "scales.tiny.llm.ranks=3",
                                      "--set", "scales.tiny.gpus_per_node=4",   "--set", "train.global_batch_size=9",
                                      "--set", "model.llm.ffn_hidden_size=96",  "--set", "model.llm.vocab_size=63",
                                      "--set", "model.llm.hybrid_override_pattern=----"};
  expect_one_error(plan(sets), want);
  expect_one_error(train(sets), want);
}

TEST(CliErrors, GlobalBatchNotDivisibleByMicroBatchTimesLanes) {
  expect_one_error(plan({"--set", "train.global_batch_size=7"}),
                   {"train.global_batch_size=7", "micro_batch_size*llm_dp=1*2=2", "multiple of 2"});
}

TEST(CliErrors, UnknownRecipeKey) {
  const std::vector<std::string> want{"unknown recipe key 'scales.tiny.llm.tpp'", "known keys here: cp, ep, etp"};
  expect_one_error(plan({"--set", "scales.tiny.llm.tpp=2"}), want);
  expect_one_error(train({"--set", "scales.tiny.llm.tpp=2"}), want);
}

TEST(CliErrors, MissingRecipeFile) {
  const ProcessResult r = run({bin("hetero-launch"), "plan", "--recipe", "/nonexistent/recipe_x"});
  expect_one_error(r, {"recipe '/nonexistent/recipe_x' not found", "recipes/nemotron_20l"});
}

TEST(CliErrors, UnknownScale) {
  const ProcessResult r = run({bin("hetero-launch"), "plan", "--recipe", recipe("nemotron_20l"), "--scale", "7n"});
  expect_one_error(r, {"unknown scale '7n'", "(scales: tiny, 1n, 9n"});
}

TEST(CliErrors, BadFlag) {
  expect_one_error(plan({"--bogus"}), {"--bogus", "hetero-launch plan --help"});
  expect_one_error(train({"--bogus"}), {"--bogus", "hetero-train --help"});
}

TEST(CliErrors, KernelTraceOutsideTheRunOrOnACpuBuild) {
  expect_one_error(train({"--iters", "4", "--kernel-trace-at", "5"}),
                   {"--kernel-trace-at 5 is not an iteration of this run", "give 1 to 4"});
  // This suite runs on the CPU build, where the PyTorch profiler path is not built.
  expect_one_error(train({"--iters", "4", "--kernel-trace-at", "2"}),
                   {"--kernel-trace-at needs a CUDA build", "leave it out"});
}

TEST(CliErrors, WrongProcessCountForTheScale) {
  const ProcessResult r = run({bin("hetero-launch"), "local", "--recipe", recipe("nemotron_20l"), "--out",
                               fresh_dir("nproc"), "--nproc", "2"});
  expect_one_error(r, {"--nproc=2", "needs 3 ranks", "--nproc 3"});
}

}  // namespace
}  // namespace hetero::test
