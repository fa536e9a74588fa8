// Reliability, as a hostile user meets it (issue 17): a hung rank is named,
// a run that no longer trains stops, run directories are locked and never
// overwritten silently, failed writes name path and reason, rendezvous
// failures name who never came, nonsense flags are refused, and a finished
// job says where its files are.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "hetero/heartbeat.h"
#include "hetero/run_dir.h"
#include "process.h"

namespace fs = std::filesystem;

namespace hetero::test {
namespace {

std::vector<std::string> tiny_job(const std::string& out, int iters, const std::vector<std::string>& sets = {}) {
  std::vector<std::string> argv{bin("hetero-launch"), "local", "--recipe", recipe("nemotron_20l"), "--scale", "tiny",
                                "--out", out, "--iters", std::to_string(iters)};
  for (const auto& s : sets) argv.insert(argv.end(), {"--set", s});
  return argv;
}

// A process running in the background, its output in files.
struct Background {
  pid_t pid = -1;
  std::string dir;
  std::chrono::steady_clock::time_point started;

  explicit Background(const std::vector<std::string>& argv) : dir(fresh_dir("bg")) {
    started = std::chrono::steady_clock::now();
    pid = fork();
    if (pid == 0) {
      const int out = open((dir + "/out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = open((dir + "/err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(out, STDOUT_FILENO);
      dup2(err, STDERR_FILENO);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
  }
  ~Background() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
  // The exit status, or -1 if it has not ended within `seconds`.
  int wait_for(double seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return -1;
  }
  std::string err() const { return slurp(dir + "/err"); }
  std::string out() const { return slurp(dir + "/out"); }
};

bool wait_for_iterations(const std::string& out, std::size_t n, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      if (fs::exists(RunPaths{out}.metrics()) && read_metrics(RunPaths{out}.metrics()).size() >= n) return true;
    } catch (const std::exception&) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// ---- A hung rank is named --------------------------------------------------

// tiny with llm pp=2: rank 0 the encoder, rank 1 the LLM's first stage,
// rank 2 its last. The stopped rank is named within hang-timeout + 15 s.
void expect_hang_named(int rank, const std::string& role) {
  constexpr int kHangTimeout = 5;
  const std::string out = fresh_dir("hang");
  auto argv = tiny_job(out, 100000, {"scales.tiny.llm.pp=2"});
  argv.insert(argv.end(), {"--", "--hang-timeout-s", std::to_string(kHangTimeout), "--timeout-s", "300"});
  Background job(argv);
  ASSERT_TRUE(wait_for_iterations(out, 2, 120)) << "the job never trained:\n" << job.err();
  const auto beat = parse_heartbeat(slurp(heartbeat_path(RunPaths{out}, rank)));
  ASSERT_TRUE(beat.has_value());
  ASSERT_EQ(beat->role, role);
  const auto stopped_at = std::chrono::steady_clock::now();
  ASSERT_EQ(kill(static_cast<pid_t>(beat->pid), SIGSTOP), 0);
  const int status = job.wait_for(kHangTimeout + 15 + 10);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - stopped_at).count();
  kill(static_cast<pid_t>(beat->pid), SIGKILL);  // in case the launcher failed to
  const std::string err = job.err();
  ASSERT_NE(status, -1) << "the job still runs " << took << " s after rank " << rank << " was stopped:\n" << err;
  EXPECT_NE(status, 0);
  EXPECT_LE(took, kHangTimeout + 15.0) << err;
  const std::string want = "hetero-launch: hung rank: rank " + std::to_string(rank) + " (" + role + ", ";
  const auto named = err.find(want);
  ASSERT_NE(named, std::string::npos) << err;
  EXPECT_NE(err.find("last seen in ", named), std::string::npos) << err;
  EXPECT_NE(err.find(" at iteration ", named), std::string::npos) << err;
  // That line comes before the launcher's word on which rank exited.
  EXPECT_LT(named, err.find("hetero-launch: rank ")) << err;
  EXPECT_NE(slurp(hang_report_path(RunPaths{out})).find("rank " + std::to_string(rank) + " (" + role),
            std::string::npos);
}

TEST(HangDetection, StoppedEncoderRankIsNamed) { expect_hang_named(0, "encoder"); }
TEST(HangDetection, StoppedFirstStageRankIsNamed) { expect_hang_named(1, "llm stage 0 of 2"); }
TEST(HangDetection, StoppedLastStageRankIsNamed) { expect_hang_named(2, "llm stage 1 of 2 (last)"); }

// ---- Non-finite values -------------------------------------------------------

TEST(NonFiniteGuard, SkippedStepsInARowEndTheJobNamingTheGradient) {
  const std::string out = fresh_dir("skips");
  auto argv = tiny_job(out, 8, {"train.max_skipped_in_a_row=1"});
  argv.insert(argv.end(), {"--", "--inject-nonfinite-at", "3"});
  const ProcessResult r = run(argv);
  EXPECT_NE(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("iteration 3: 1 optimizer step(s) in a row skipped"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("the first non-finite gradient is llm."), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(train.max_skipped_in_a_row=1)"), std::string::npos) << r.err;
  EXPECT_EQ(read_metrics(RunPaths{out}.metrics()).size(), 3u);  // the skipped iteration is logged
}

// ---- Run directories ---------------------------------------------------------

TEST(RunDirectory, AFinishedRunIsNotOverwrittenSilently) {
  // Without checkpoints (save_interval=0) a second start cannot resume the run.
  const std::string out = fresh_dir("rerun");
  ASSERT_EQ(run(tiny_job(out, 1, {"train.save_interval=0"})).exit_code, 0);
  const std::string config = slurp(RunPaths{out}.config());
  ProcessResult r = run(tiny_job(out, 1, {"train.save_interval=0", "train.lr=1.0e-3"}));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("already holds a run (config.yaml, metrics.jsonl, trace/, logs/rank-*.log)"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("pass --overwrite"), std::string::npos) << r.err;
  EXPECT_EQ(slurp(RunPaths{out}.config()), config);  // untouched
  // --overwrite says so explicitly.
  auto argv = tiny_job(out, 1, {"train.save_interval=0", "train.lr=1.0e-3"});
  argv.push_back("--overwrite");
  r = run(argv);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(slurp(RunPaths{out}.config()), config);
  EXPECT_FALSE(fs::exists(out + "/lock"));  // released
}

TEST(RunDirectory, ASecondJobIntoALockedDirectoryIsRefused) {
  const std::string out = fresh_dir("locked");
  Background first(tiny_job(out, 100000));
  ASSERT_TRUE(wait_for_iterations(out, 1, 120)) << first.err();
  const ProcessResult second = run(tiny_job(out, 1));
  EXPECT_EQ(second.exit_code, 2);
  EXPECT_NE(second.err.find("is in use by another job: pid " + std::to_string(first.pid) + " on host "),
            std::string::npos)
      << second.err;
  EXPECT_EQ(first.wait_for(0.5), -1) << "the first job did not survive the second:\n" << first.err();
}

TEST(RunDirectory, AStaleLockIsNamedWithHowToClearIt) {
  const std::string out = fresh_dir("stale");
  const pid_t dead = fork();
  if (dead == 0) _exit(0);
  waitpid(dead, nullptr, 0);
  std::ofstream(out + "/lock") << "pid: " << dead << "\nhost: " << this_host_name() << "\nstarted: 2026-01-01T00:00:00Z\n";
  const ProcessResult r = run(tiny_job(out, 1));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("has a stale lock: " + out + "/lock was left by pid " + std::to_string(dead)), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("clear it with: rm " + out + "/lock"), std::string::npos) << r.err;
  fs::remove(out + "/lock");
  EXPECT_EQ(run(tiny_job(out, 1)).exit_code, 0);
}

// ---- Failed writes -----------------------------------------------------------

// A full disk: a small tmpfs (needs root and mount rights; skipped without).
TEST(IoFailures, AFullDiskEndsTheJobNamingPathAndReasonAndKeepsEarlierFiles) {
  const std::string mnt = fresh_dir("full");
  if (mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=512k") != 0) GTEST_SKIP() << "cannot mount a tmpfs here";
  const std::string out = mnt + "/run";
  fs::create_directories(out);
  std::ofstream(out + "/config.yaml") << "an earlier run's config\n";
  {
    std::ofstream fill(mnt + "/fill", std::ios::binary);
    const std::string block(4096, 'x');
    while (fill.write(block.data(), block.size())) {
    }
  }
  fs::resize_file(mnt + "/fill", fs::file_size(mnt + "/fill") - 8192);  // room for the lock and logs only
  auto argv = tiny_job(out, 2);
  argv.push_back("--overwrite");
  const ProcessResult r = run(argv);
  const std::string earlier = slurp(out + "/config.yaml");
  umount2(mnt.c_str(), MNT_DETACH);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.exit_code, 134) << "a rank died through std::terminate:\n" << r.err;
  EXPECT_NE(r.err.find("No space left on device"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(out + "/"), std::string::npos) << r.err;
  EXPECT_EQ(earlier, "an earlier run's config\n");
}

// ---- Rendezvous --------------------------------------------------------------

int listening_port(int& fd) {
  fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  socklen_t len = sizeof(addr);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  listen(fd, 1);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

ProcessResult rank_alone(const std::string& out, int port, const std::string& timeout_s) {
  return run({"/usr/bin/env", "RANK=0", "WORLD_SIZE=3", "LOCAL_RANK=0", "MASTER_ADDR=127.0.0.1",
              "MASTER_PORT=" + std::to_string(port), bin("hetero-train"), "--recipe", recipe("nemotron_20l"),
              "--scale", "tiny", "--out", out, "--timeout-s", timeout_s});
}

TEST(Rendezvous, ARankAloneNamesTheRanksThatNeverArrived) {
  int fd = -1;
  const int port = listening_port(fd);
  close(fd);  // a free port
  const ProcessResult r = rank_alone(fresh_dir("alone"), port, "3");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("2 of 3 ranks never arrived: 1, 2"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("Exception raised from"), std::string::npos) << "a stack trace:\n" << r.err;
}

TEST(Rendezvous, APortInUseIsNamedAsSuch) {
  int fd = -1;
  const int port = listening_port(fd);
  ProcessResult r = rank_alone(fresh_dir("port"), port, "10");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("rendezvous port " + std::to_string(port) + " on 127.0.0.1 is in use by another process"),
            std::string::npos)
      << r.err;
  auto argv = tiny_job(fresh_dir("port-launch"), 1);
  argv.insert(argv.end(), {"--master-port", std::to_string(port)});
  r = run(argv);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--master-port " + std::to_string(port) + " is in use by another process"), std::string::npos)
      << r.err;
  close(fd);
}

// ---- Flags -------------------------------------------------------------------

TEST(Flags, NonsenseValuesAreRefusedWithOneMessage) {
  const std::string out = fresh_dir("flags");
  struct Case {
    std::vector<std::string> argv;
    std::string want;
  };
  const std::string train = bin("hetero-train"), r20 = recipe("nemotron_20l");
  const std::vector<Case> cases = {
      {{train, "--recipe", r20, "--out", out, "--threads", "0"}, "--threads=0 must be at least 1"},
      {{train, "--recipe", r20, "--out", out, "--timeout-s", "-1"}, "--timeout-s=-1 must be at least 1 second"},
      {{train, "--recipe", r20, "--out", ""}, "--out is empty"},
      {{train, "--recipe", r20, "--out", out, "--hang-timeout-s", "-5"}, "--hang-timeout-s=-5 must be -1"},
      {tiny_job(out, -1), "--iters=-1 must be 0 (the recipe's train.train_iters) or more"},
      {tiny_job("", 1), "--out is empty"},
      {[&] { auto a = tiny_job(out, 1); a.insert(a.end(), {"--master-port", "80"}); return a; }(),
       "--master-port=80 must be 0 (a free port) or an unprivileged TCP port, 1024 to 65535"},
      {[&] { auto a = tiny_job(out, 1); a.insert(a.end(), {"--", "--fail-rank", "7", "--fail-at-iter", "1"}); return a; }(),
       "--fail-rank=7 is not a rank of this 3-rank job; give 0 to 2"},
  };
  for (const auto& c : cases) {
    const ProcessResult r = run(c.argv);
    EXPECT_EQ(r.exit_code, 2) << c.want << "\n" << r.err;
    EXPECT_NE(r.err.find(c.want), std::string::npos) << c.want << "\n" << r.err;
    EXPECT_EQ(r.err.find("Exception raised from"), std::string::npos) << c.want << "\n" << r.err;
  }
  EXPECT_FALSE(fs::exists("/logs/rank-00000.log"));
}

// ---- The launcher's words ------------------------------------------------------

TEST(LauncherSummary, AFinishedJobSaysWhatItDidAndWhereItsFilesAre) {
  const std::string out = fresh_dir("summary");
  const ProcessResult r = run(tiny_job(out, 2));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("hetero-launch: done: iteration 2 in "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(" s on 3 rank(s); the run is in " + out), std::string::npos) << r.err;
  for (const std::string line : {"config:       " + out + "/config.yaml", "metrics:      " + out + "/metrics.jsonl",
                                 "traces:       " + out + "/trace", "logs:         " + out + "/logs"})
    EXPECT_NE(r.err.find(line), std::string::npos) << line << "\n" << r.err;
}

TEST(LauncherSummary, AnEmptyLogIsSaidToBeEmpty) {
  const std::string out = fresh_dir("empty-log");
  auto argv = tiny_job(out, 1);
  argv.insert(argv.end(), {"--trainer", "/bin/false"});
  const ProcessResult r = run(argv);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(".log is empty: the rank wrote nothing before it ended"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("Last lines of"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace hetero::test
