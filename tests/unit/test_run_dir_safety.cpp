// The run directory's safety rules without a job: its intent (an earlier run
// is not written over silently), its lock, heartbeats judged stale, and
// writes that fail naming the path and the reason.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "hetero/errors.h"
#include "hetero/heartbeat.h"
#include "hetero/run_dir.h"
#include "hetero/run_lock.h"

namespace fs = std::filesystem;

namespace hetero {
namespace {

std::string fresh(const std::string& tag) {
  std::string pattern = (fs::temp_directory_path() / ("hetero-" + tag + "-XXXXXX")).string();
  return mkdtemp(pattern.data());
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string config_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(RunDirIntent, AnEarlierRunIsRefusedUnlessResumedOrOverwritten) {
  const RunPaths paths{fresh("intent")};
  EXPECT_NO_THROW(check_run_dir_intent(paths, false, false));  // empty
  fs::create_directories(paths.logs_dir());
  std::ofstream(paths.logs_dir() + "/slurm-12.out") << "Slurm's own output\n";
  EXPECT_NO_THROW(check_run_dir_intent(paths, false, false));  // not a run yet
  std::ofstream(paths.config()) << "x";
  fs::create_directories(paths.weights_dir() + "/iter-000001");
  const std::string e = config_error([&] { check_run_dir_intent(paths, false, false); });
  EXPECT_NE(e.find("already holds a run (config.yaml, weights/)"), std::string::npos) << e;
  EXPECT_NO_THROW(check_run_dir_intent(paths, true, false));
  EXPECT_NO_THROW(check_run_dir_intent(paths, false, true));
  // Resuming needs a checkpoint, and --resume none never resumes.
  EXPECT_FALSE(start_resumes(paths, "auto"));
  fs::create_directories(paths.checkpoints_dir());
  std::ofstream(paths.checkpoints_dir() + "/latest") << "5\n";
  EXPECT_TRUE(start_resumes(paths, "auto"));
  EXPECT_FALSE(start_resumes(paths, "none"));
}

TEST(RunDirLock, HeldLocksAreRefusedAndReleased) {
  const RunPaths paths{fresh("lock")};
  {
    RunDirLock lock(paths);
    const std::string text = slurp(paths.root + "/lock");
    EXPECT_NE(text.find("pid: " + std::to_string(getpid()) + "\n"), std::string::npos) << text;
    EXPECT_NE(text.find("host: " + this_host_name() + "\n"), std::string::npos) << text;
    EXPECT_NE(text.find("started: "), std::string::npos) << text;
    const std::string e = config_error([&] { RunDirLock second(paths); });
    EXPECT_NE(e.find("is in use by another job: pid " + std::to_string(getpid())), std::string::npos) << e;
  }
  EXPECT_FALSE(fs::exists(paths.root + "/lock"));
  EXPECT_NO_THROW(RunDirLock again(paths));
}

TEST(RunDirLock, StaleAndForeignLocksSayHowToClearThem) {
  const RunPaths paths{fresh("stale-lock")};
  const pid_t dead = fork();
  if (dead == 0) _exit(0);
  waitpid(dead, nullptr, 0);
  std::ofstream(paths.root + "/lock") << "pid: " << dead << "\nhost: " << this_host_name() << "\nstarted: T\n";
  std::string e = config_error([&] { RunDirLock lock(paths); });
  EXPECT_NE(e.find("has a stale lock"), std::string::npos) << e;
  EXPECT_NE(e.find("clear it with: rm " + paths.root + "/lock"), std::string::npos) << e;
  std::ofstream(paths.root + "/lock") << "pid: 1\nhost: some-other-host\nstarted: T\nslurm_job_id: 77\n";
  e = config_error([&] { RunDirLock lock(paths); });
  EXPECT_NE(e.find("is locked by pid 1 on host some-other-host (started T, Slurm job 77)"), std::string::npos) << e;
  // A requeue of the same Slurm job takes its own lock over.
  setenv("SLURM_JOB_ID", "77", 1);
  EXPECT_NO_THROW(RunDirLock lock(paths));
  unsetenv("SLURM_JOB_ID");
  EXPECT_FALSE(fs::exists(paths.root + "/lock"));
}

TEST(Heartbeat, AStaleRankIsReportedWithRoleHostPidRegionAndAge) {
  const RunPaths paths{fresh("beat")};
  fs::create_directories(paths.root + "/heartbeat");
  Heartbeat h;
  h.rank = 1;
  h.role = "llm stage 0 of 2";
  h.host = "node07";
  h.pid = 4242;
  h.iter = 12;
  h.region = "llm/forward";
  auto write = [&] {
    ++h.beat;
    std::ofstream(heartbeat_path(paths, 1)) << format_heartbeat(h);
  };
  HangWatch watch(paths, 3, 0, std::chrono::seconds(10));
  const auto t0 = std::chrono::steady_clock::now();
  write();
  EXPECT_FALSE(watch.poll(t0));
  write();
  EXPECT_FALSE(watch.poll(t0 + std::chrono::seconds(1)));  // beating
  EXPECT_FALSE(watch.poll(t0 + std::chrono::seconds(10)));  // 9 s: not yet
  const auto report = watch.poll(t0 + std::chrono::seconds(12));
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(*report, "rank 1 (llm stage 0 of 2, node07, pid 4242) last seen in llm/forward at iteration 12, 11 s ago");
  // A rank that finished is not hung.
  h.done = true;
  write();
  HangWatch later(paths, 3, 0, std::chrono::seconds(10));
  EXPECT_FALSE(later.poll(t0));
  EXPECT_FALSE(later.poll(t0 + std::chrono::seconds(60)));
}

TEST(Heartbeat, TheThreadBeatsAndTracksTheRegion) {
  const RunPaths paths{fresh("thread")};
  RankPosition position;
  Heartbeat me;
  me.rank = 0;
  me.role = "encoder";
  me.host = this_host_name();
  me.pid = getpid();
  HeartbeatThread beat(paths, me, &position, std::chrono::milliseconds(20));
  position.enter("encoder/forward", 3);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto seen = parse_heartbeat(slurp(heartbeat_path(paths, 0)));
  ASSERT_TRUE(seen.has_value());
  EXPECT_GT(seen->beat, 2);
  EXPECT_EQ(seen->region, "encoder/forward");
  EXPECT_EQ(seen->iter, 3);
  position.leave();
  beat.finish();
  seen = parse_heartbeat(slurp(heartbeat_path(paths, 0)));
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->region, "after encoder/forward");
  EXPECT_TRUE(seen->done);
}

TEST(FailedWrites, NameThePathAndTheReason) {
  MetricsWriter full("/dev/full");
  try {
    full.write(IterationMetrics{});
    ADD_FAILURE() << "a write to /dev/full succeeded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot write /dev/full: No space left on device"), std::string::npos)
        << e.what();
  }
  const std::string dir = fresh("atomic");
  std::ofstream(dir + "/config.yaml") << "earlier\n";
  try {
    write_file_atomically(dir + "/missing/config.yaml", "x");
    ADD_FAILURE() << "wrote into a missing folder";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos) << e.what();
  }
  write_file_atomically(dir + "/config.yaml", "new\n");
  EXPECT_EQ(slurp(dir + "/config.yaml"), "new\n");
  EXPECT_FALSE(fs::exists(dir + "/config.yaml.tmp"));
}

}  // namespace
}  // namespace hetero
