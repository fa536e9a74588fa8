// A real Slurm on this machine (Debian's slurm-wlm): a private munged,
// slurmctld and slurmd on localhost, from a config written under a temp
// dir, on ports of their own. hetero-launch submit runs the tiny scale as a
// 4-task job; a long job is stopped with USR1, requeued, and stopped again
// once max_requeues is reached.
//
// Skips, saying why, only when Slurm is not installed here, the test is not
// root (slurmd must be), or the daemons cannot start. Every wait has a
// timeout; the fixture's TearDown cancels jobs and stops the daemons.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "hetero/run_dir.h"
#include "launch_util.h"

namespace fs = std::filesystem;

namespace hetero {
namespace {

using namespace launch_test;
using Clock = std::chrono::steady_clock;

std::string find_exe(const std::string& name) {
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream ss(path);
    std::string d;
    while (std::getline(ss, d, ':')) dirs.push_back(d);
  }
  for (const char* d : {"/usr/sbin", "/usr/bin", "/sbin", "/bin"}) dirs.push_back(d);
  for (const auto& d : dirs)
    if (!d.empty() && access((d + "/" + name).c_str(), X_OK) == 0) return d + "/" + name;
  return "";
}

int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

std::string short_hostname() {
  char buf[256] = {};
  gethostname(buf, sizeof(buf) - 1);
  std::string h(buf);
  return h.substr(0, h.find('.'));
}

// Waits until `done` holds, polling every 250 ms; false after `timeout_s`.
bool wait_until(const std::function<bool()>& done, double timeout_s) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return done();
}

bool process_alive(pid_t pid) {
  if (pid <= 0 || kill(pid, 0) != 0) return false;
  // A daemon is re-parented; a zombie of it is gone for our purposes.
  const std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  const auto close_paren = stat.rfind(')');
  return close_paren == std::string::npos || close_paren + 2 >= stat.size() || stat[close_paren + 2] != 'Z';
}

// "Key=value" out of scontrol's "Key1=v1 Key2=v2 ..." text.
std::string field(const std::string& text, const std::string& key) {
  const std::regex re("(^|\\s)" + key + "=(\\S*)");
  std::smatch m;
  return std::regex_search(text, m, re) ? m[2].str() : "";
}

class LocalSlurm {
 public:
  // Starts munged, slurmctld and slurmd; returns "" or why Slurm cannot run here.
  std::string start() {
    for (const char* name : {"munged", "slurmctld", "slurmd", "sbatch", "srun", "scontrol", "squeue", "sinfo", "scancel"}) {
      exe_[name] = find_exe(name);
      if (exe_[name].empty())
        return std::string("Slurm is not installed here (no ") + name +
               " on PATH or in /usr/sbin); install slurm-wlm (scripts/setup.sh does)";
    }
    if (geteuid() != 0) return "this test starts slurmd, which must run as root; run it as root (.ci/run does)";
    dir_ = fresh_dir("slurm");
    chmod(dir_.c_str(), 0755);  // munge clients need to reach the socket
    fs::create_directories(dir_ + "/state");
    fs::create_directories(dir_ + "/spool");
    conf_ = dir_ + "/slurm.conf";

    // munge, with a key and socket of its own.
    {
      std::ifstream random("/dev/urandom", std::ios::binary);
      std::string key(1024, '\0');
      random.read(key.data(), static_cast<std::streamsize>(key.size()));
      write_file(dir_ + "/munge.key", key);
      chmod((dir_ + "/munge.key").c_str(), 0400);
    }
    const Result munged = run({exe_["munged"], "--force", "--socket=" + dir_ + "/munge.sock",
                               "--key-file=" + dir_ + "/munge.key", "--pid-file=" + dir_ + "/munged.pid",
                               "--log-file=" + dir_ + "/munged.log", "--seed-file=" + dir_ + "/munged.seed"},
                              {}, 20);
    if (munged.exit_code != 0)
      return "munged cannot start here (status " + std::to_string(munged.exit_code) + "): " + munged.err +
             slurp(dir_ + "/munged.log");

    const std::string host = short_hostname();
    std::ofstream conf(conf_);
    conf << "ClusterName=hetero-test\n"
         << "SlurmctldHost=" << host << "\n"
         << "SlurmctldPort=" << free_port() << "\n"
         << "SlurmdPort=" << free_port() << "\n"
         << "AuthType=auth/munge\nCredType=cred/munge\n"
         << "AuthInfo=socket=" << dir_ << "/munge.sock\n"
         << "SlurmUser=root\nSlurmdUser=root\n"
         << "ProctrackType=proctrack/pgid\nTaskPlugin=task/none\n"
         << "SelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n"
         << "SlurmdParameters=config_overrides\n"
         << "StateSaveLocation=" << dir_ << "/state\n"
         << "SlurmdSpoolDir=" << dir_ << "/spool\n"
         << "SlurmctldPidFile=" << dir_ << "/slurmctld.pid\n"
         << "SlurmdPidFile=" << dir_ << "/slurmd.pid\n"
         << "SlurmctldLogFile=" << dir_ << "/slurmctld.log\n"
         << "SlurmdLogFile=" << dir_ << "/slurmd.log\n"
         << "ReturnToService=2\nMpiDefault=none\nKillWait=5\n"
         << "AccountingStorageType=accounting_storage/none\nJobAcctGatherType=jobacct_gather/none\n"
         << "NodeName=" << host << " CPUs=8 RealMemory=4000 State=UNKNOWN\n"
         << "PartitionName=debug Nodes=" << host << " Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE\n";
    conf.close();

    for (const char* daemon : {"slurmctld", "slurmd"}) {
      const Result r = cmd({exe_[daemon], "-f", conf_}, 30);
      if (r.exit_code != 0)
        return std::string(daemon) + " cannot start here (status " + std::to_string(r.exit_code) + "): " + r.err +
               "\n" + logs();
    }
    std::string state;
    const bool idle = wait_until(
        [&] {
          state = cmd({exe_["sinfo"], "-h", "-o", "%T"}, 10).out;
          return state.find("idle") != std::string::npos;
        },
        30);
    if (!idle) return "Slurm started but the node never became idle (sinfo: '" + state + "')\n" + logs();
    return "";
  }

  void stop() {
    if (dir_.empty() || stopped_) return;
    stopped_ = true;
    if (!conf_.empty() && process_alive(pid_of("slurmctld"))) {
      for (const auto& id : lines_of(cmd({exe_["squeue"], "-h", "-o", "%i"}, 10).out))
        if (!id.empty()) cmd({exe_["scancel"], id}, 10);
      wait_until([&] { return cmd({exe_["squeue"], "-h", "-o", "%i"}, 10).out.empty(); }, 20);
    }
    for (const char* daemon : {"slurmd", "slurmctld", "munged"}) {
      const pid_t pid = pid_of(daemon);
      if (!process_alive(pid)) continue;
      kill(pid, SIGTERM);
      if (!wait_until([&] { return !process_alive(pid); }, 10)) kill(pid, SIGKILL);
    }
    // Whatever this cluster started and left behind (steps, tasks) carries its SLURM_CONF.
    for (const auto& entry : fs::directory_iterator("/proc")) {
      const std::string name = entry.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos || std::stoi(name) == getpid()) continue;
      const std::string env_text = slurp(entry.path().string() + "/environ");
      if (env_text.find("SLURM_CONF=" + conf_ + '\0') != std::string::npos) kill(std::stoi(name), SIGKILL);
    }
  }

  Result cmd(const std::vector<std::string>& argv, double timeout_s = 30) const {
    return run(argv, {{"SLURM_CONF", conf_}}, timeout_s);
  }
  Result slurm(const std::string& command, std::vector<std::string> args, double timeout_s = 30) {
    args.insert(args.begin(), exe_.at(command));
    return cmd(args, timeout_s);
  }
  std::string show_job(const std::string& id) { return slurm("scontrol", {"show", "job", id}, 15).out; }

  std::string logs() const {
    std::string text;
    for (const char* log : {"slurmctld.log", "slurmd.log", "munged.log"}) {
      const auto lines = lines_of(slurp(dir_ + "/" + log));
      text += std::string("--- last lines of ") + log + ":\n";
      for (size_t i = lines.size() > 15 ? lines.size() - 15 : 0; i < lines.size(); ++i) text += lines[i] + "\n";
    }
    return text;
  }
  const std::string& dir() const { return dir_; }
  const std::string& conf() const { return conf_; }

 private:
  pid_t pid_of(const std::string& daemon) const {
    const std::string text = slurp(dir_ + "/" + daemon + ".pid");
    try {
      return text.empty() ? -1 : std::stoi(text);
    } catch (const std::exception&) {
      return -1;
    }
  }

  std::map<std::string, std::string> exe_;
  std::string dir_, conf_;
  bool stopped_ = false;
};

const std::set<std::string> kEndStates = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL",
                                          "OUT_OF_MEMORY", "PREEMPTED", "BOOT_FAIL", "DEADLINE"};

class Slurm : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why_not = slurm_.start();
    if (!why_not.empty()) {
      slurm_.stop();
      GTEST_SKIP() << why_not;
    }
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << slurm_.logs();
    slurm_.stop();
    if (!HasFailure() && !slurm_.dir().empty()) fs::remove_all(slurm_.dir());
  }

  // hetero-launch submit of the tiny scale as 4 tasks: 2 encoder ranks, 2 LLM lanes.
  Result submit(const std::string& run_dir, const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {bin("hetero-launch"), "submit", "--recipe", recipe("nemotron_20l"),
                                     "--scale", "tiny", "--out", run_dir, "--partition", "debug",
                                     "--time", "00:20:00",
                                     "--set", "scales.tiny.encoder.ranks=2", "--set", "scales.tiny.gpus_per_node=4",
                                     "--set", "launch.port=" + std::to_string(free_port())};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return slurm_.cmd(argv, 60);
  }

  std::string state_of(const std::string& id) { return field(slurm_.show_job(id), "JobState"); }

  // Waits for the job to end; returns its final `scontrol show job` text.
  std::string wait_for_end(const std::string& id, double timeout_s) {
    std::string text;
    wait_until(
        [&] {
          text = slurm_.show_job(id);
          return kEndStates.count(field(text, "JobState")) > 0;
        },
        timeout_s);
    return text;
  }

  // The part of the job's output written by its start number `restart`.
  static std::string output_of_start(const std::string& out, int restart) {
    const std::string marker = "starts (SLURM_RESTART_COUNT=" + std::to_string(restart) + ")";
    const auto pos = out.find(marker);
    if (pos == std::string::npos) return "";
    const auto next = out.find("starts (SLURM_RESTART_COUNT=" + std::to_string(restart + 1) + ")", pos);
    return out.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
  }

  LocalSlurm slurm_;
};

TEST_F(Slurm, SubmitRunsTinyAsFourTasksAndFillsTheRunDirectory) {
  const std::string run_dir = slurm_.dir() + "/run-tiny";
  const Result s = submit(run_dir, {"--set", "train.train_iters=4"});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  const std::string id = s.out.substr(0, s.out.find('\n'));
  ASSERT_TRUE(!id.empty() && id.find_first_not_of("0123456789") == std::string::npos) << "job id: '" << s.out << "'";

  const std::string final_state = wait_for_end(id, 120);
  const std::string out = slurp(run_dir + "/logs/slurm-" + id + ".out");
  const std::string err = slurp(run_dir + "/logs/slurm-" + id + ".err");
  ASSERT_EQ(field(final_state, "JobState"), "COMPLETED") << final_state << "\n--- out:\n" << out << "\n--- err:\n" << err;
  EXPECT_EQ(field(final_state, "ExitCode"), "0:0");
  EXPECT_EQ(field(final_state, "NumTasks"), "4");

  // The run directory of design §8, written by ranks placed by Slurm.
  const RunPaths paths{run_dir};
  const auto metrics = read_metrics(paths.metrics());
  ASSERT_EQ(metrics.size(), 4u) << out << err;
  for (int i = 0; i < 4; ++i) EXPECT_EQ(metrics[i].iter, i + 1);
  EXPECT_GT(metrics.back().lm_loss, 0);
  const std::string config = slurp(paths.config());
  EXPECT_NE(config.find("world_size: 4"), std::string::npos) << config;
  EXPECT_NE(config.find("encoders_per_lane: 1"), std::string::npos) << config;
  // The batch script's and the trainer's lines, in the job's output file.
  EXPECT_NE(out.find("hetero-launch: job " + id + " starts (SLURM_RESTART_COUNT=0) on 1 node(s), rendezvous "),
            std::string::npos) << out;
  EXPECT_NE(out.find(" iteration        4/       4 |"), std::string::npos) << out;
  EXPECT_NE(out.find("hetero-train ended with status 0"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(run_dir + "/job.sbatch"));
}

TEST_F(Slurm, Usr1StopsTheJobWhichRequeuesUntilMaxRequeues) {
  const std::string run_dir = slurm_.dir() + "/run-requeue";
  const Result s = submit(run_dir, {"--set", "train.train_iters=100000", "--set", "launch.max_requeues=1"});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  const std::string id = s.out.substr(0, s.out.find('\n'));
  const std::string out_file = run_dir + "/logs/slurm-" + id + ".out";
  auto out = [&] { return slurp(out_file); };
  auto training = [&](int restart) {
    return [&, restart] { return output_of_start(out(), restart).find(" iteration ") != std::string::npos; };
  };

  // First start: training, then USR1 to the batch script (as Slurm sends before the limit).
  ASSERT_TRUE(wait_until(training(0), 90)) << "first start never trained\n" << slurm_.show_job(id) << out();
  const Result sig = slurm_.slurm("scancel", {"--signal=USR1", "--batch", id});
  ASSERT_EQ(sig.exit_code, 0) << sig.err;

  // The script requeues: Restarts=1, pending until released.
  std::string job;
  ASSERT_TRUE(wait_until(
      [&] {
        job = slurm_.show_job(id);
        return field(job, "Restarts") == "1" && field(job, "JobState") == "PENDING";
      },
      60))
      << "not requeued\n" << job << "\n" << out();
  const std::string first = output_of_start(out(), 0);
  EXPECT_NE(first.find("USR1 received"), std::string::npos) << first;
  EXPECT_NE(first.find("stop requested (SIGUSR1): stopping after iteration"), std::string::npos) << first;
  EXPECT_NE(first.find("stopped on request; requeueing job " + id + " (requeue 1 of at most 1)"), std::string::npos)
      << first;
  // A requeued job waits (BeginTime); start it now.
  ASSERT_TRUE(wait_until(
      [&] {
        const std::string st = state_of(id);
        if (st == "PENDING") slurm_.slurm("scontrol", {"update", "JobId=" + id, "StartTime=now"}, 15);
        return st == "RUNNING";
      },
      60))
      << slurm_.show_job(id);

  // Second start: SLURM_RESTART_COUNT=1 reaches the script; training again.
  ASSERT_TRUE(wait_until(training(1), 90)) << "second start never trained\n" << slurm_.show_job(id) << out();
  const Result sig2 = slurm_.slurm("scancel", {"--signal=USR1", "--batch", id});
  ASSERT_EQ(sig2.exit_code, 0) << sig2.err;

  // max_requeues=1 is reached: the job ends with the trainer's status 75.
  const std::string final_state = wait_for_end(id, 90);
  const std::string second = output_of_start(out(), 1);
  EXPECT_EQ(field(final_state, "JobState"), "FAILED") << final_state << second;
  EXPECT_EQ(field(final_state, "ExitCode"), "75:0") << final_state;
  EXPECT_EQ(field(final_state, "Restarts"), "1") << final_state;
  EXPECT_NE(second.find("not requeueing: already requeued 1 time(s) (max_requeues=1)"), std::string::npos) << second;
  // The second start resumed from the checkpoint the first saved on USR1:
  // metrics.jsonl holds each iteration once, in order, across both starts.
  EXPECT_NE(second.find("hetero-train: resumed from " + run_dir + "/checkpoints/iter-"), std::string::npos) << second;
  const auto metrics = read_metrics(RunPaths{run_dir}.metrics());
  ASSERT_FALSE(metrics.empty());
  for (size_t i = 0; i < metrics.size(); ++i) EXPECT_EQ(metrics[i].iter, static_cast<int>(i) + 1);
  EXPECT_FALSE(fs::exists(RunPaths{run_dir}.metrics() + ".1"));
}

// USR1 -> every rank saves and exits 75 -> requeue -> the second start
// resumes after the saved iteration and finishes; every iteration is logged
// once, with the values of a run that was never interrupted.
TEST_F(Slurm, ARequeuedJobResumesFromItsCheckpointAndFinishes) {
  constexpr int kIters = 150;
  const std::vector<std::string> sets = {"--set", "train.train_iters=" + std::to_string(kIters), "--set",
                                         "train.save_interval=1000"};
  const std::string run_dir = slurm_.dir() + "/run-resume";
  const Result s = submit(run_dir, sets);
  ASSERT_EQ(s.exit_code, 0) << s.err;
  const std::string id = s.out.substr(0, s.out.find('\n'));
  const std::string out_file = run_dir + "/logs/slurm-" + id + ".out";
  auto out = [&] { return slurp(out_file); };
  ASSERT_TRUE(wait_until([&] { return output_of_start(out(), 0).find(" iteration ") != std::string::npos; }, 90))
      << "first start never trained\n" << out();
  ASSERT_EQ(slurm_.slurm("scancel", {"--signal=USR1", "--batch", id}).exit_code, 0);
  ASSERT_TRUE(wait_until(
      [&] {
        const std::string job = slurm_.show_job(id);
        const std::string st = field(job, "JobState");
        if (field(job, "Restarts") == "1" && st == "PENDING")
          slurm_.slurm("scontrol", {"update", "JobId=" + id, "StartTime=now"}, 15);
        return field(job, "Restarts") == "1" && (st == "RUNNING" || kEndStates.count(st) > 0);
      },
      90))
      << "not requeued\n" << slurm_.show_job(id) << out();
  const std::string final_state = wait_for_end(id, 180);
  const std::string first = output_of_start(out(), 0), second = output_of_start(out(), 1);
  ASSERT_EQ(field(final_state, "JobState"), "COMPLETED") << final_state << out();
  const std::string stop_line = "stop requested (SIGUSR1): stopping after iteration ";
  const auto stopped_at = first.find(stop_line);
  ASSERT_NE(stopped_at, std::string::npos) << first;
  const int saved = std::stoi(first.substr(stopped_at + stop_line.size()));
  ASSERT_LT(saved, kIters) << "USR1 came after the last iteration; nothing was resumed";
  EXPECT_NE(second.find("resumed from " + run_dir + "/checkpoints/iter-"), std::string::npos) << second;
  EXPECT_NE(second.find("after iteration " + std::to_string(saved) + " "), std::string::npos) << second;

  // The same job in one go, on this machine.
  const std::string straight = slurm_.dir() + "/run-straight";
  std::vector<std::string> argv = {bin("hetero-launch"), "local", "--recipe", recipe("nemotron_20l"), "--scale",
                                   "tiny", "--out", straight, "--set", "scales.tiny.encoder.ranks=2",
                                   "--set", "scales.tiny.gpus_per_node=4"};
  argv.insert(argv.end(), sets.begin(), sets.end());
  ASSERT_EQ(slurm_.cmd(argv, 180).exit_code, 0);
  const auto want = read_metrics(RunPaths{straight}.metrics());
  const auto got = read_metrics(RunPaths{run_dir}.metrics());
  ASSERT_EQ(got.size(), static_cast<size_t>(kIters));
  ASSERT_EQ(want.size(), static_cast<size_t>(kIters));
  for (int i = 0; i < kIters; ++i) {
    EXPECT_EQ(got[i].iter, i + 1);
    EXPECT_EQ(got[i].lm_loss, want[i].lm_loss) << "iteration " << i + 1;
    EXPECT_EQ(got[i].grad_norm, want[i].grad_norm) << "iteration " << i + 1;
  }
}

}  // namespace
}  // namespace hetero
