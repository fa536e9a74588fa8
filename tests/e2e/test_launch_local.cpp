// hetero-launch local: a healthy job writes the run directory of design §8;
// a failing rank ends the whole job fast, loudly, and leaves nothing behind.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "hetero/run_dir.h"
#include "process.h"

namespace fs = std::filesystem;

namespace hetero::test {
namespace {

std::vector<std::string> tiny_job(const std::string& out, int iters) {
  return {bin("hetero-launch"), "local", "--recipe", recipe("nemotron_20l"), "--scale", "tiny",
          "--out", out, "--iters", std::to_string(iters)};
}

TEST(LaunchLocal, WritesRunDirectoryAndIterationLines) {
  const std::string out = fresh_dir("run");
  const ProcessResult r = run(tiny_job(out, 3));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The logging rank's Megatron-style lines reach the launcher's stdout.
  EXPECT_EQ(count_lines_with(r.out, " iteration "), 3) << r.out;
  EXPECT_NE(r.out.find(" iteration        3/       3 |"), std::string::npos) << r.out;
  const RunPaths paths{out};
  EXPECT_TRUE(fs::exists(paths.config()));
  EXPECT_EQ(read_metrics(paths.metrics()).size(), 3u);
  for (int rank = 0; rank < 3; ++rank) EXPECT_TRUE(fs::exists(paths.rank_log(rank))) << rank;
  // config.yaml holds the resolved topology, so a run documents its layout.
  std::ifstream cfg(paths.config());
  std::string text((std::istreambuf_iterator<char>(cfg)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("lanes_per_encoder: 2"), std::string::npos) << text;
}

TEST(LaunchLocal, FailingRankEndsJobFastWithItsErrorAndNoSurvivors) {
  const std::string out = fresh_dir("fail");
  auto argv = tiny_job(out, 20);
  // Rank 1 is an LLM lane; the encoder and the other lane block on it.
  argv.insert(argv.end(), {"--", "--fail-at-iter", "3", "--fail-rank", "1"});
  const ProcessResult r = run(argv);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_LT(r.seconds, 30.0);
  EXPECT_NE(r.err.find("rank 1 exited with status 1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("injected failure at iteration 3 on rank 1"), std::string::npos) << r.err;
  EXPECT_TRUE(processes_mentioning(out).empty()) << "ranks survived the launcher";
}

TEST(LaunchLocal, KilledLauncherTakesItsRanksWithIt) {
  const std::string out = fresh_dir("kill");
  auto argv = tiny_job(out, 100000);
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    freopen("/dev/null", "w", stdout);
    execv(args[0], args.data());
    _exit(127);
  }
  // Wait until training is under way, then kill the launcher outright.
  const auto metrics = RunPaths{out}.metrics();
  for (int i = 0; i < 300 && !(fs::exists(metrics) && fs::file_size(metrics) > 0); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(fs::exists(metrics)) << "the job never started training";
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  std::vector<int> left;
  for (int i = 0; i < 50; ++i) {
    left = processes_mentioning(out);
    if (left.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(left.empty()) << left.size() << " rank(s) outlived the launcher";
}

}  // namespace
}  // namespace hetero::test
