// Hang detection (design §5): every rank beats into its own file,
// RUN/heartbeat/rank-NNNNN, from a thread of its own, so a rank that is
// stopped (SIGSTOP, a dead node, a stuck driver) stops beating while a rank
// merely blocked in a collective keeps going. A watcher names the first rank
// whose file has not changed for the hang timeout: "rank R (role, host, pid
// P) last seen in REGION at iteration I, N s ago". Staleness is judged by
// the watcher's own clock (no cross-host clock skew), and only for ranks it
// has seen beating. Files, not the TCPStore, because rank 0 hosts the store
// and a stopped rank 0 would take the channel down with it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "hetero/run_dir.h"

namespace hetero {

// Where a rank is: the main thread writes it (two atomic stores per region),
// the heartbeat thread reads it. Region names are static strings (regions.h).
struct RankPosition {
  std::atomic<int> iter{0};
  std::atomic<const char*> region{"startup"};
  std::atomic<bool> after{false};  // true: the region has ended, the rank is between regions
  void enter(const char* name, int iteration) {
    iter.store(iteration, std::memory_order_relaxed);
    region.store(name, std::memory_order_relaxed);
    after.store(false, std::memory_order_relaxed);
  }
  void leave() { after.store(true, std::memory_order_relaxed); }
};

struct Heartbeat {
  int rank = 0;
  std::string role;  // "encoder", "llm stage 0", "colocated stage 1", ...
  std::string host;
  long pid = 0;
  long long beat = 0;   // increases with every write
  int iter = 0;
  std::string region;   // "llm/forward", "after grad/reduce", "startup"
  bool done = false;    // the rank finished (or is exiting): no longer watched
};

// This machine's host name (gethostname), for heartbeats and locks.
std::string this_host_name();

std::string heartbeat_path(const RunPaths& paths, int rank);  // RUN/heartbeat/rank-00000
std::string format_heartbeat(const Heartbeat& h);
std::optional<Heartbeat> parse_heartbeat(const std::string& text);
std::string hang_report(const Heartbeat& h, double seconds_ago);
// RUN/hang-report.txt: the report of the hang that ended the job (the
// launcher and the sbatch script print it first).
std::string hang_report_path(const RunPaths& paths);

// Judges heartbeat files: poll() reads ranks [0, world) and returns the
// report of the first one unchanged for `timeout` since this watcher saw it
// change (ranks that finished are not judged; a rank's file is this run's
// once the rendezvous that precedes every watch has passed).
class HangWatch {
 public:
  HangWatch(RunPaths paths, int world_size, int self_rank, std::chrono::milliseconds timeout);
  std::optional<std::string> poll(std::chrono::steady_clock::time_point now);

 private:
  struct Seen {
    long long beat = -1;
    std::chrono::steady_clock::time_point changed;
    bool live = false;  // read at least once
    Heartbeat last;
  };
  RunPaths paths_;
  int world_size_, self_rank_;
  std::chrono::milliseconds timeout_;
  std::map<int, Seen> seen_;
};

// A rank's heartbeat thread: writes its file every `period` (atomically:
// temp file + rename) and, once watch() is called, also polls a HangWatch,
// calling `on_hang(report)` once, from the thread, when a rank is stale.
class HeartbeatThread {
 public:
  HeartbeatThread(RunPaths paths, Heartbeat identity, const RankPosition* position,
                  std::chrono::milliseconds period);
  ~HeartbeatThread();
  HeartbeatThread(const HeartbeatThread&) = delete;
  HeartbeatThread& operator=(const HeartbeatThread&) = delete;
  void watch(int world_size, std::chrono::milliseconds timeout, std::function<void(const std::string&)> on_hang);
  // Writes a last beat marked done and stops the thread.
  void finish();

 private:
  void run();
  void write_beat(bool done);

  RunPaths paths_;
  Heartbeat beat_;
  const RankPosition* position_;
  std::chrono::milliseconds period_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::optional<HangWatch> watch_;
  std::function<void(const std::string&)> on_hang_;
  std::thread thread_;
};

// The beat period for a hang timeout: often enough that a stale rank is
// noticed well inside the timeout, at most every 5 s.
std::chrono::milliseconds heartbeat_period(int hang_timeout_s);

}  // namespace hetero
