// A non-finite gradient skips that optimizer step on every rank, is counted,
// and leaves the LR schedule where it was.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "hetero/run_dir.h"
#include "process.h"

namespace hetero::test {
namespace {

std::vector<IterationMetrics> train(const std::string& out, const std::vector<std::string>& trainer_args) {
  std::vector<std::string> argv{bin("hetero-launch"), "local", "--recipe", recipe("nemotron_20l"), "--out", out,
                                "--iters", "8", "--"};
  argv.insert(argv.end(), trainer_args.begin(), trainer_args.end());
  const ProcessResult r = run(argv);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return read_metrics(RunPaths{out}.metrics());
}

TEST(NonFiniteGradient, SkipsTheStepEverywhereAndHoldsTheSchedule) {
  const std::string out = fresh_dir("nonfinite");
  const auto ref = train(fresh_dir("finite"), {});
  const auto got = train(out, {"--inject-nonfinite-at", "5"});
  ASSERT_EQ(got.size(), 8u);
  ASSERT_EQ(ref.size(), 8u);
  for (int i = 0; i < 5; ++i) EXPECT_DOUBLE_EQ(got[i].lm_loss, ref[i].lm_loss) << "iteration " << i + 1;
  EXPECT_TRUE(std::isnan(got[4].grad_norm));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(got[i].skipped, 0);
  for (int i = 4; i < 8; ++i) EXPECT_EQ(got[i].skipped, 1) << "iteration " << i + 1;
  // The skipped step did not advance the schedule: iteration k uses the LR
  // the clean run used at k-1.
  for (int i = 5; i < 8; ++i) EXPECT_DOUBLE_EQ(got[i].lr, ref[i - 1].lr) << "iteration " << i + 1;
  for (int rank = 0; rank < 3; ++rank) {
    std::ifstream log(RunPaths{out}.rank_log(rank));
    std::stringstream text;
    text << log.rdbuf();
    EXPECT_NE(text.str().find("skipped the optimizer step of iteration 5"), std::string::npos) << "rank " << rank;
  }
  // Training goes on: later steps update again.
  EXPECT_TRUE(std::isfinite(got[7].grad_norm));
}

}  // namespace
}  // namespace hetero::test
