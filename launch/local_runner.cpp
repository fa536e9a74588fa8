#include "local_runner.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "hetero/errors.h"
#include "hetero/exit_codes.h"
#include "hetero/heartbeat.h"
#include "hetero/launch_env.h"
#include "hetero/run_dir.h"
#include "hetero/run_lock.h"

namespace hetero {
namespace {

volatile sig_atomic_t g_stop_signal = 0;  // set by SIGINT/SIGTERM to the launcher
void on_signal(int sig) { g_stop_signal = sig; }
volatile sig_atomic_t g_usr1 = 0;  // SIGUSR1 to the launcher: forwarded to the ranks
void on_usr1(int) { g_usr1 = 1; }

// A free loopback port, held bound (SO_REUSEADDR, never listening) for the
// launcher's lifetime: a port that was only looked up and released could be
// handed to another job started in the same instant before rank 0 binds it.
// Rank 0's store can still bind and listen on it, since neither socket listens
// before it does, and the kernel gives a bound port to no other bind(0).
class ReservedPort {
 public:
  ReservedPort() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (fd_ < 0 || setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      const std::string why = std::strerror(errno);
      if (fd_ >= 0) close(fd_);
      throw std::runtime_error("cannot find a free TCP port: " + why);
    }
    port_ = ntohs(addr.sin_port);
  }
  ~ReservedPort() { close(fd_); }
  ReservedPort(const ReservedPort&) = delete;
  ReservedPort& operator=(const ReservedPort&) = delete;
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

struct Rank {
  int rank = 0;
  pid_t pid = -1;
  int out_fd = -1, err_fd = -1;
  std::string out_partial, err_partial;
  std::ofstream log;
  std::deque<std::string> tail;  // last lines, for the failure report
  bool exited = false;
  int status = 0;

  void line(const std::string& text, bool is_err) {
    log << text << "\n";
    log.flush();
    tail.push_back(text);
    if (tail.size() > 20) tail.pop_front();
    if (is_err)
      std::cerr << "[rank " << rank << "] " << text << std::endl;
    else
      std::cout << text << std::endl;
  }
};

// Reads what is available on `fd`, emitting complete lines; false at EOF.
bool pump(Rank& r, int& fd, std::string& partial, bool is_err) {
  char buf[4096];
  const ssize_t n = read(fd, buf, sizeof(buf));
  if (n <= 0) {
    if (!partial.empty()) r.line(partial, is_err);
    partial.clear();
    close(fd);
    fd = -1;
    return false;
  }
  partial.append(buf, static_cast<size_t>(n));
  size_t nl;
  while ((nl = partial.find('\n')) != std::string::npos) {
    r.line(partial.substr(0, nl), is_err);
    partial.erase(0, nl + 1);
  }
  return true;
}

pid_t spawn(const LocalJob& job, int rank, int port, const std::string& token, int out_w, int err_w, pid_t group) {
  std::vector<std::string> argv_s{job.trainer};
  argv_s.insert(argv_s.end(), job.args.begin(), job.args.end());
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    setpgid(0, group);                 // one process group: the launcher can stop all ranks at once
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // and no rank outlives a killed launcher
    dup2(out_w, STDOUT_FILENO);
    dup2(err_w, STDERR_FILENO);
    setenv("RANK", std::to_string(rank).c_str(), 1);
    setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
    setenv("WORLD_SIZE", std::to_string(job.nproc).c_str(), 1);
    setenv("LOCAL_WORLD_SIZE", std::to_string(job.nproc).c_str(), 1);
    setenv("MASTER_ADDR", "127.0.0.1", 1);
    setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
    unsetenv("SLURM_PROCID");  // local runs never take Slurm's placement
    setenv(kRunLockHeldEnv, std::to_string(getppid()).c_str(), 1);
    setenv("HETERO_JOB_TOKEN", token.c_str(), 1);
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    std::fprintf(stderr, "cannot start %s: %s\n", argv[0], std::strerror(errno));
    _exit(127);
  }
  setpgid(pid, group == 0 ? pid : group);
  return pid;
}

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("was killed by signal ") + strsignal(WTERMSIG(status));
  return "ended abnormally";
}

std::string last_iteration_text(const RunPaths& paths);

// The end-of-run summary: what was done, how long it took, where things are.
void print_summary(const RunPaths& paths, int nproc, double seconds) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::ostringstream os;
  os << "hetero-launch: done: " << last_iteration_text(paths) << " in " << static_cast<long long>(seconds + 0.5)
     << " s on " << nproc << " rank(s); the run is in " << paths.root << ":\n";
  auto line = [&](const char* what, const std::string& path, bool is_dir) {
    if (is_dir ? fs::is_directory(path, ec) && !fs::is_empty(path, ec) : fs::exists(path, ec))
      os << "  " << what << path << "\n";
  };
  line("config:       ", paths.config(), false);
  line("metrics:      ", paths.metrics(), false);
  line("traces:       ", paths.trace_dir(), true);
  line("logs:         ", paths.logs_dir(), true);
  line("checkpoints:  ", paths.checkpoints_dir(), true);
  line("weights:      ", paths.weights_dir(), true);
  line("embeddings:   ", paths.embeddings_dir(), true);
  line("tensorboard:  ", paths.tensorboard_dir(), true);
  std::cerr << os.str() << std::flush;
}

// The last lines of a rank's log, or a word that there are none.
void print_tail(const RunPaths& paths, int rank, const std::deque<std::string>& tail) {
  if (tail.empty()) {
    std::cerr << "hetero-launch: " << paths.rank_log(rank) << " is empty: the rank wrote nothing before it ended\n";
    return;
  }
  std::cerr << "Last lines of " << paths.rank_log(rank) << ":\n";
  for (const auto& l : tail) std::cerr << "  " << l << "\n";
}

// "iteration N" from the last line of RUN/metrics.jsonl, for the stop message.
std::string last_iteration_text(const RunPaths& paths) {
  try {
    const auto metrics = read_metrics(paths.metrics());
    if (!metrics.empty()) return "iteration " + std::to_string(metrics.back().iter);
  } catch (const std::exception&) {
  }
  return "no complete iteration";
}

}  // namespace

int run_local_job(const LocalJob& job) {
  if (access(job.trainer.c_str(), X_OK) != 0)
    throw std::runtime_error("trainer executable " + job.trainer + " not found or not executable; build it or pass --trainer");
  const RunPaths paths{job.run_dir};
  if (job.master_port > 0 && tcp_port_in_use(job.master_port))
    throw ConfigError("--master-port " + std::to_string(job.master_port) +
                      " is in use by another process (another job?); choose another, or leave it out to get a free one");
  RunDirLock lock(paths);  // held until every rank is gone; first: a live job's lock says more than its files
  check_run_dir_intent(paths, start_resumes(paths, job.resume), job.overwrite);
  std::filesystem::remove(hang_report_path(paths));  // an earlier run's
  std::filesystem::create_directories(paths.logs_dir());
  std::optional<ReservedPort> reserved;
  if (job.master_port <= 0) reserved.emplace();
  const int port = reserved ? reserved->port() : job.master_port;
  const std::string token = "local-" + std::to_string(getpid()) + "-" + std::to_string(port) + "-" +
                            std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
  const auto started = std::chrono::steady_clock::now();

  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGUSR1, on_usr1);

  std::vector<Rank> ranks(job.nproc);
  pid_t group = 0;
  for (int r = 0; r < job.nproc; ++r) {
    int out[2], err[2];
    if (pipe(out) != 0 || pipe(err) != 0) throw std::runtime_error("pipe failed");
    ranks[r].rank = r;
    ranks[r].log.open(paths.rank_log(r), std::ios::trunc);
    ranks[r].pid = spawn(job, r, port, token, out[1], err[1], group);
    if (group == 0) group = ranks[r].pid;
    close(out[1]);
    close(err[1]);
    ranks[r].out_fd = out[0];
    ranks[r].err_fd = err[0];
  }
  std::cerr << "hetero-launch: started " << job.nproc << " rank(s), logs in " << paths.logs_dir() << std::endl;

  int failed_rank = -1, failed_code = 0;
  auto stop_all = [&](int sig) { kill(-group, sig); };
  std::chrono::steady_clock::time_point stop_deadline{};
  bool stopping = false;
  // A stop on request (SIGUSR1, as Slurm sends before a time limit): every
  // rank finishes the same iteration and exits kExitStopRequested. One that
  // has not followed the others within stop_grace_s is stopped by force.
  int stopped_ranks = 0, straggler = -1;
  std::chrono::steady_clock::time_point first_stop{};

  while (true) {
    // Output first, so a failing rank's last words are in the log.
    std::vector<pollfd> fds;
    std::vector<std::pair<int, bool>> owner;
    for (auto& r : ranks) {
      if (r.out_fd >= 0) { fds.push_back({r.out_fd, POLLIN, 0}); owner.push_back({r.rank, false}); }
      if (r.err_fd >= 0) { fds.push_back({r.err_fd, POLLIN, 0}); owner.push_back({r.rank, true}); }
    }
    if (!fds.empty() && poll(fds.data(), fds.size(), 100) > 0) {
      for (size_t i = 0; i < fds.size(); ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        Rank& r = ranks[owner[i].first];
        if (owner[i].second) pump(r, r.err_fd, r.err_partial, true);
        else pump(r, r.out_fd, r.out_partial, false);
      }
    } else if (fds.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }

    bool all_exited = true;
    for (auto& r : ranks) {
      if (!r.exited) {
        int status = 0;
        if (waitpid(r.pid, &status, WNOHANG) == r.pid) {
          r.exited = true;
          r.status = status;
          if (exit_code_of(status) == kExitStopRequested) {
            if (stopped_ranks++ == 0) first_stop = std::chrono::steady_clock::now();
          } else if (exit_code_of(status) != 0 && failed_rank < 0 && !stopping) {
            failed_rank = r.rank;
            failed_code = exit_code_of(status);
          }
        }
      }
      all_exited = all_exited && r.exited;
    }
    if (all_exited) {
      bool pipes_open = false;
      for (auto& r : ranks) pipes_open = pipes_open || r.out_fd >= 0 || r.err_fd >= 0;
      if (!pipes_open) break;
      continue;
    }
    if (g_usr1) {
      g_usr1 = 0;
      std::cerr << "hetero-launch: SIGUSR1 received; asking every rank to stop after the current iteration" << std::endl;
      stop_all(SIGUSR1);
    }
    if (!stopping && stopped_ranks > 0 && failed_rank < 0 &&
        std::chrono::steady_clock::now() - first_stop > std::chrono::milliseconds(static_cast<int>(job.stop_grace_s * 1000))) {
      for (auto& r : ranks)
        if (!r.exited) { straggler = r.rank; break; }
    }
    if (!stopping && (failed_rank >= 0 || g_stop_signal || straggler >= 0)) {
      stopping = true;
      stop_all(SIGTERM);
      stop_deadline = std::chrono::steady_clock::now() +
                      std::chrono::milliseconds(static_cast<int>(job.grace_s * 1000));
    }
    if (stopping && std::chrono::steady_clock::now() > stop_deadline) stop_all(SIGKILL);
  }

  if (failed_rank >= 0) {
    const Rank& r = ranks[failed_rank];
    // A hang report names the rank that hung, not the watcher that noticed.
    std::ifstream hang(hang_report_path(paths));
    std::string report;
    if (failed_code == kExitRankHung && std::getline(hang, report) && !report.empty())
      std::cerr << "hetero-launch: hung rank: " << report << "\n";
    std::cerr << "hetero-launch: rank " << failed_rank << " " << describe_status(r.status)
              << "; stopped the other ranks.\n";
    print_tail(paths, failed_rank, r.tail);
    std::cerr.flush();
    return failed_code;
  }
  if (straggler >= 0) {
    std::cerr << "hetero-launch: " << stopped_ranks << " rank(s) stopped on request, but rank " << straggler
              << " had not stopped " << job.stop_grace_s << " s later; stopped it by force.\n";
    print_tail(paths, straggler, ranks[straggler].tail);
    std::cerr.flush();
    return 1;
  }
  if (g_stop_signal) {
    std::cerr << "hetero-launch: stopped by signal " << strsignal(g_stop_signal) << std::endl;
    return 128 + g_stop_signal;
  }
  if (stopped_ranks > 0) {
    // Not a failure: the job did what it was asked and can be run again.
    std::cerr << "hetero-launch: stopped on request after " << last_iteration_text(paths) << " (" << stopped_ranks
              << " of " << job.nproc << " ranks exited with status " << kExitStopRequested
              << ")" << std::endl;
    return kExitStopRequested;
  }
  print_summary(paths, job.nproc, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return 0;
}

}  // namespace hetero
