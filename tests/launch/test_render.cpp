// hetero-launch render and submit without a cluster: the 9n script against
// its reviewed copy, command-line settings and their errors, and submit
// through stand-in sbatch commands. Also: local forwards SIGUSR1 and reports
// a stop on request as such.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "launch_util.h"

namespace fs = std::filesystem;

namespace hetero {
namespace {

using namespace launch_test;

// Absolute paths vary by checkout, build and run; the rest must not.
std::string normalise(std::string text, const std::string& run_dir) {
  text = replace_all(text, run_dir, "@RUN_DIR@");
  text = replace_all(text, bin_dir(), "@BIN_DIR@");
  return replace_all(text, source_dir(), "@SOURCE_DIR@");
}

Result launch(std::vector<std::string> args, const std::map<std::string, std::string>& env = {}) {
  args.insert(args.begin(), bin("hetero-launch"));
  return run(args, env, 60);
}

TEST(Render, Nemotron20l9nMatchesTheReviewedScript) {
  const std::string run_dir = fresh_dir("render") + "/run";
  const Result r = launch({"render", "--recipe", recipe("nemotron_20l"), "--scale", "9n", "--out", run_dir});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, run_dir + "/job.sbatch\n");
  EXPECT_TRUE(fs::is_directory(run_dir + "/logs")) << "Slurm needs the output folder to exist";
  EXPECT_TRUE((fs::status(run_dir + "/job.sbatch").permissions() & fs::perms::owner_exec) != fs::perms::none);
  const std::string expected_file = source_dir() + "/tests/launch/expected/nemotron_20l_9n.sbatch";
  const std::string got = normalise(slurp(run_dir + "/job.sbatch"), run_dir);
  const std::string want = slurp(expected_file);
  ASSERT_FALSE(want.empty()) << expected_file;
  // Line by line, so a difference names its line.
  const auto got_lines = lines_of(got), want_lines = lines_of(want);
  for (size_t i = 0; i < std::max(got_lines.size(), want_lines.size()); ++i) {
    const std::string g = i < got_lines.size() ? got_lines[i] : "(missing)";
    const std::string w = i < want_lines.size() ? want_lines[i] : "(missing)";
    EXPECT_EQ(g, w) << "line " << i + 1 << " of " << expected_file;
  }
  EXPECT_EQ(got, want);
  // The script is valid bash.
  const Result syntax = run({"bash", "-n", run_dir + "/job.sbatch"});
  EXPECT_EQ(syntax.exit_code, 0) << syntax.err;
}

TEST(Render, FlagsAndOverridesReachTheScript) {
  const std::string run_dir = fresh_dir("flags") + "/run";
  const Result r = launch({"render", "--recipe", recipe("nemotron_54l"), "--scale", "33n", "--out", run_dir,
                           "--time", "1-12:00:00", "--account", "my_acct", "--partition", "batch",
                           "--sbatch-extra", "#SBATCH --qos=high", "--sbatch-extra", "#SBATCH --exclusive",
                           "--set", "train.global_batch_size=1536", "--set", "launch.signal_seconds=600",
                           "--set", "launch.env.NCCL_DEBUG=INFO"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string s = slurp(run_dir + "/job.sbatch");
  for (const char* want : {"#SBATCH --nodes=33\n", "#SBATCH --ntasks-per-node=8\n", "#SBATCH --gpus-per-node=8\n",
                           "#SBATCH --time=1-12:00:00\n", "#SBATCH --account=my_acct\n", "#SBATCH --partition=batch\n",
                           "#SBATCH --signal=B:USR1@600\n", "#SBATCH --qos=high\n#SBATCH --exclusive\n",
                           "export NCCL_DEBUG=INFO\n", "--set train.global_batch_size=1536",
                           "llm ranks [8, 264) tp=2 pp=1 dp=128 ep=8, 12 microbatch(es)"})
    EXPECT_NE(s.find(want), std::string::npos) << want << "\n" << s;
  // launch.* shapes the script only; the trainer gets the rest.
  EXPECT_EQ(s.find("--set launch."), std::string::npos) << s;
  // Nothing in the script computes a rank.
  EXPECT_EQ(s.find("SLURM_PROCID"), s.find("SLURM_PROCID; hetero-train derives its role")) << s;
  EXPECT_EQ(s.find("SLURM_NODEID"), std::string::npos);
  EXPECT_EQ(s.find("SLURM_LOCALID"), std::string::npos);
}

TEST(Render, TinyIsACpuJobWithoutGpus) {
  const std::string run_dir = fresh_dir("tiny") + "/run";
  const Result r = launch({"render", "--recipe", recipe("nemotron_20l"), "--scale", "tiny", "--out", run_dir});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string s = slurp(run_dir + "/job.sbatch");
  EXPECT_EQ(s.find("--gpus-per-node"), std::string::npos) << s;
  EXPECT_NE(s.find("--device cpu"), std::string::npos) << s;
  EXPECT_NE(s.find("#SBATCH --ntasks-per-node=3\n"), std::string::npos) << s;
}

TEST(Render, BadSettingsAreRejectedTogetherBeforeAnythingIsWritten) {
  const std::string run_dir = fresh_dir("bad") + "/run";
  const Result r = launch({"render", "--recipe", recipe("nemotron_20l"), "--scale", "9n", "--out", run_dir,
                           "--time", "4h", "--account", "a;b", "--sbatch-extra", "--qos=high", "--sbatch-extra",
                           "#SBATCH --nodes=2"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  for (const char* want : {"launch.time (--time) '4h' is not a Slurm time limit [D-]HH:MM:SS; write e.g. 04:00:00",
                           "launch.account (--account) 'a;b'", "extra sbatch line '--qos=high'",
                           "extra sbatch line '#SBATCH --nodes=2' sets --nodes"})
    EXPECT_NE(r.err.find(want), std::string::npos) << want << "\n" << r.err;
  EXPECT_FALSE(fs::exists(run_dir)) << "nothing is written for an invalid job";
  // A recipe that loads but does not plan, with a bad extra line: both reported.
  const Result r2 = launch({"render", "--recipe", recipe("nemotron_20l"), "--scale", "9n", "--out", run_dir,
                            "--sbatch-extra", "#SBATCH -t 1:00:00", "--set", "train.global_batch_size=100"});
  EXPECT_EQ(r2.exit_code, 2) << r2.err;
  for (const char* want : {"train.global_batch_size=100 is not divisible by micro_batch_size*llm_dp=1*32=32",
                           "extra sbatch line '#SBATCH -t 1:00:00' sets -t"})
    EXPECT_NE(r2.err.find(want), std::string::npos) << want << "\n" << r2.err;
  EXPECT_FALSE(fs::exists(run_dir));
}

TEST(Submit, PrintsTheJobIdFromSbatch) {
  const std::string dir = fresh_dir("submit");
  write_file(dir + "/sbatch", "#!/bin/sh\necho \"$@\" > " + dir + "/args\necho '4242;cluster'\n", true);
  const Result r = launch({"submit", "--recipe", recipe("nemotron_20l"), "--scale", "9n", "--out", dir + "/run"},
                          {{"PATH", dir + ":/usr/bin:/bin"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "4242\n");
  EXPECT_NE(r.err.find("submitted job 4242"), std::string::npos) << r.err;
  EXPECT_EQ(slurp(dir + "/args"), "--parsable " + dir + "/run/job.sbatch\n");
}

TEST(Submit, SbatchErrorsAndAMissingSbatchAreClear) {
  const std::string dir = fresh_dir("submit-fail");
  write_file(dir + "/sbatch", "#!/bin/sh\necho 'sbatch: error: Invalid account or account/partition combination' >&2\nexit 1\n",
             true);
  const Result failed = launch({"submit", "--recipe", recipe("nemotron_20l"), "--scale", "9n", "--out", dir + "/run"},
                               {{"PATH", dir + ":/usr/bin:/bin"}});
  EXPECT_EQ(failed.exit_code, 1);
  EXPECT_NE(failed.err.find("failed (status 1): sbatch: error: Invalid account"), std::string::npos) << failed.err;
  EXPECT_TRUE(failed.out.empty()) << failed.out;

  const std::string empty = fresh_dir("no-slurm");
  const Result missing = launch({"submit", "--recipe", recipe("nemotron_20l"), "--scale", "9n", "--out", dir + "/run2"},
                                {{"PATH", empty}});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("'sbatch' not found on PATH"), std::string::npos) << missing.err;
  EXPECT_NE(missing.err.find("sbatch " + dir + "/run2/job.sbatch"), std::string::npos) << missing.err;
}

// hetero-launch local passes SIGUSR1 on to its ranks; their status 75 is a
// stop on request, reported as such, not as a failed rank.
TEST(LocalStop, Usr1StopsEveryRankAndIsNotAFailure) {
  const std::string dir = fresh_dir("local-stop");
  const std::string run_dir = dir + "/run";
  const std::string out = dir + "/stdout", err = dir + "/stderr";
  const pid_t pid = fork();
  if (pid == 0) {
    freopen(out.c_str(), "w", stdout);
    freopen(err.c_str(), "w", stderr);
    const std::string launcher = bin("hetero-launch"), rec = recipe("nemotron_20l");
    execl(launcher.c_str(), launcher.c_str(), "local", "--recipe", rec.c_str(), "--scale", "tiny", "--out",
          run_dir.c_str(), "--iters", "100000", static_cast<char*>(nullptr));
    _exit(127);
  }
  const std::string metrics = run_dir + "/metrics.jsonl";
  for (int i = 0; i < 600 && !(fs::exists(metrics) && fs::file_size(metrics) > 0); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(fs::exists(metrics)) << "the job never started training: " << slurp(err);
  kill(pid, SIGUSR1);
  int status = 0;
  for (int i = 0; i < 600 && waitpid(pid, &status, WNOHANG) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (kill(pid, 0) == 0 && waitpid(pid, &status, WNOHANG) == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    FAIL() << "the launcher did not stop within 60 s of SIGUSR1";
  }
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 75);
  const std::string e = slurp(err);
  EXPECT_NE(e.find("stopped on request after iteration "), std::string::npos) << e;
  EXPECT_NE(e.find("(3 of 3 ranks exited with status 75)"), std::string::npos) << e;
  EXPECT_EQ(e.find("stopped the other ranks"), std::string::npos) << e;
  EXPECT_NE(slurp(out).find("stop requested (SIGUSR1)"), std::string::npos);
}

}  // namespace
}  // namespace hetero
