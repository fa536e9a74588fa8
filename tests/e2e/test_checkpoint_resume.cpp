// Checkpoints and resume (design §8): a run stopped and resumed trains
// exactly like one that never stopped, in its own layout bit for bit and in
// another layout to 1e-5; metrics.jsonl continues in one file; a job killed
// mid-save keeps its previous checkpoint. Real processes over Gloo.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "hetero/checkpoint_manifest.h"
#include "hetero/run_dir.h"
#include "process.h"

namespace hetero::test {
namespace {

namespace fs = std::filesystem;

struct Job {
  std::string recipe = "nemotron_20l";
  std::vector<std::string> sets;          // --set values
  std::vector<std::string> trainer_args;  // after --
};

ProcessResult launch(const Job& job, const std::string& out, int iters, const std::vector<std::string>& more = {}) {
  std::vector<std::string> argv{bin("hetero-launch"), "local", "--recipe", recipe(job.recipe), "--scale", "tiny",
                                "--out", out, "--iters", std::to_string(iters)};
  for (const auto& s : job.sets) argv.insert(argv.end(), {"--set", s});
  argv.push_back("--");
  argv.insert(argv.end(), job.trainer_args.begin(), job.trainer_args.end());
  argv.insert(argv.end(), more.begin(), more.end());
  return run(argv);
}

std::vector<IterationMetrics> train(const Job& job, const std::string& out, int iters,
                                    const std::vector<std::string>& more = {}) {
  const ProcessResult r = launch(job, out, iters, more);
  EXPECT_EQ(r.exit_code, 0) << out << ":\n" << r.err << r.out;
  return read_metrics(RunPaths{out}.metrics());
}

Job with(Job job, std::vector<std::string> sets, std::vector<std::string> args = {}) {
  job.sets.insert(job.sets.end(), sets.begin(), sets.end());
  job.trainer_args.insert(job.trainer_args.end(), args.begin(), args.end());
  return job;
}

Job single(const std::string& model = "nemotron_20l") {
  return with({model}, {"scales.tiny.mode=colocated", "scales.tiny.llm.ranks=1", "scales.tiny.gpus_per_node=1"});
}

void expect_bit_identical(const std::vector<IterationMetrics>& got, const std::vector<IterationMetrics>& ref,
                          int from, int to, const std::string& what) {
  ASSERT_GE(static_cast<int>(got.size()), to) << what;
  ASSERT_GE(static_cast<int>(ref.size()), to) << what;
  for (int i = from; i <= to; ++i) {
    const IterationMetrics &g = got[i - 1], &r = ref[i - 1];
    EXPECT_EQ(g.iter, i) << what;
    EXPECT_EQ(g.lm_loss, r.lm_loss) << what << " iteration " << i;
    EXPECT_EQ(g.grad_norm, r.grad_norm) << what << " iteration " << i;
    EXPECT_EQ(g.lr, r.lr) << what << " iteration " << i;
    EXPECT_EQ(g.num_zeros, r.num_zeros) << what << " iteration " << i;
    EXPECT_EQ(g.load_balancing_loss, r.load_balancing_loss) << what << " iteration " << i;
    EXPECT_EQ(g.consumed_samples, r.consumed_samples) << what << " iteration " << i;
  }
}

double rel(double a, double b) { return std::fabs(a - b) / std::max(std::fabs(b), 1e-30); }

// ---- exact resume in the same layout ---------------------------------------

struct ExactCase {
  const char* name;
  Job job;
};

class ExactResume : public ::testing::TestWithParam<ExactCase> {};

// 20 iterations straight, against 10 iterations, a stop, and a resumed
// start to 20 in the same run directory.
TEST_P(ExactResume, TenThenTenEqualsTwentyBitForBit) {
  const ExactCase& c = GetParam();
  const Job job = with(c.job, {"train.save_interval=10"});
  const auto straight = train(job, fresh_dir(std::string(c.name) + "-straight"), 20);
  const std::string out = fresh_dir(std::string(c.name) + "-resumed");
  const auto first = train(job, out, 10);
  ASSERT_EQ(first.size(), 10u);
  ASSERT_EQ(read_latest(RunPaths{out}.checkpoints_dir()), 10);
  const ProcessResult second = launch(job, out, 20);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.out.find("resumed from " + RunPaths{out}.checkpoint_dir(10) + " after iteration 10"),
            std::string::npos)
      << second.out;
  const auto resumed = read_metrics(RunPaths{out}.metrics());
  ASSERT_EQ(resumed.size(), 20u) << "metrics.jsonl holds every iteration once";
  expect_bit_identical(resumed, straight, 1, 20, c.name);
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, ExactResume,
    ::testing::Values(
        ExactCase{"single", single()},
        ExactCase{"fan-out", Job{}},  // tiny: 1 encoder rank feeding 2 lanes
        ExactCase{"fan-in", with({}, {"scales.tiny.encoder.ranks=2", "scales.tiny.llm.ranks=1"})},
        ExactCase{"tp2-sp", with({}, {"scales.tiny.encoder.ranks=1", "scales.tiny.llm.ranks=2",
                                      "scales.tiny.llm.tp=2", "scales.tiny.llm.sp=true"})},
        ExactCase{"pp2", with({}, {"scales.tiny.encoder.ranks=1", "scales.tiny.llm.ranks=2", "scales.tiny.llm.pp=2"})},
        ExactCase{"ep2-etp2-54l", with({"nemotron_54l"}, {"scales.tiny.encoder.ranks=1", "scales.tiny.llm.ranks=4",
                                                          "scales.tiny.gpus_per_node=5", "scales.tiny.llm.ep=2",
                                                          "scales.tiny.llm.etp=2"})},
        ExactCase{"distributed-optimizer", with({}, {}, {"--distributed-optimizer"})},
        ExactCase{"stage1-frozen", with({}, {"train.freeze=[vision, llm]"})}),
    [](const auto& info) {
      std::string n = info.param.name;
      for (char& ch : n)
        if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return n;
    });

// ---- resharding: saved in one layout, continued in another ------------------

struct ReshardCase {
  const char* name;
  Job saved_in, resumed_in;
};

class Reshard : public ::testing::TestWithParam<ReshardCase> {};

// The one-process run of 15 iterations is the reference; a checkpoint of
// iteration 10 saved in one layout continues in another for 5 iterations.
TEST_P(Reshard, ContinuesLikeTheOneProcessRun) {
  const ReshardCase& c = GetParam();
  const std::string model = c.saved_in.recipe;
  const auto ref = train(with(single(model), {"train.save_interval=10"}), fresh_dir(std::string(c.name) + "-ref"), 15);
  ASSERT_EQ(ref.size(), 15u);
  const std::string saved = fresh_dir(std::string(c.name) + "-saved");
  train(with(c.saved_in, {"train.save_interval=10"}), saved, 10);
  const std::string resumed = fresh_dir(std::string(c.name) + "-resumed");
  const auto got =
      train(with(c.resumed_in, {"train.save_interval=10"}), resumed, 15, {"--resume", RunPaths{saved}.checkpoint_dir(10)});
  ASSERT_EQ(got.size(), 5u) << "the resumed start logs iterations 11-15";
  for (int k = 0; k < 5; ++k) {
    const IterationMetrics &g = got[k], &r = ref[10 + k];
    EXPECT_EQ(g.iter, 11 + k);
    EXPECT_LE(rel(g.lm_loss, r.lm_loss), 1e-5) << c.name << " iteration " << g.iter << ": " << g.lm_loss << " vs "
                                              << r.lm_loss;
    EXPECT_LE(rel(g.grad_norm, r.grad_norm), 1e-5) << c.name << " iteration " << g.iter;
    EXPECT_EQ(g.lr, r.lr) << c.name << " iteration " << g.iter;
    if (r.load_balancing_loss > 0) EXPECT_LE(rel(g.load_balancing_loss, r.load_balancing_loss), 1e-5);
  }
}

const Job kTp2 = with({}, {"scales.tiny.encoder.ranks=1", "scales.tiny.llm.ranks=2", "scales.tiny.llm.tp=2"});
const Job kTp2Sp = with(kTp2, {"scales.tiny.llm.sp=true"});
const Job kPp2 = with({}, {"scales.tiny.encoder.ranks=1", "scales.tiny.llm.ranks=2", "scales.tiny.llm.pp=2"});
const Job kHetero1Plus1 = with({}, {"scales.tiny.encoder.ranks=1", "scales.tiny.llm.ranks=1",
                                    "scales.tiny.gpus_per_node=2"});
const Job kDistOptDp2 = with({}, {}, {"--distributed-optimizer"});  // tiny: llm dp=2
const Job k54lEp2Etp2 = with({"nemotron_54l"}, {"scales.tiny.encoder.ranks=1", "scales.tiny.llm.ranks=4",
                                                "scales.tiny.gpus_per_node=5", "scales.tiny.llm.ep=2",
                                                "scales.tiny.llm.etp=2"});
const Job k54lEp2 = with({"nemotron_54l"}, {"scales.tiny.encoder.ranks=1", "scales.tiny.llm.ranks=2",
                                            "scales.tiny.llm.ep=2"});

INSTANTIATE_TEST_SUITE_P(
    Layouts, Reshard,
    ::testing::Values(ReshardCase{"tp2-hetero-to-single", kTp2, single()},
                      ReshardCase{"single-to-tp2-sp-hetero", single(), kTp2Sp},
                      ReshardCase{"pp2-to-pp1", kPp2, Job{}},
                      ReshardCase{"distopt-dp2-to-dp1", kDistOptDp2, kHetero1Plus1},
                      ReshardCase{"dp1-to-distopt-dp2", kHetero1Plus1, kDistOptDp2},
                      ReshardCase{"ep2-etp2-to-single-54l", k54lEp2Etp2, single("nemotron_54l")},
                      ReshardCase{"single-to-ep2-54l", single("nemotron_54l"), k54lEp2}),
    [](const auto& info) {
      std::string n = info.param.name;
      for (char& ch : n)
        if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return n;
    });

}  // namespace
}  // namespace hetero::test
