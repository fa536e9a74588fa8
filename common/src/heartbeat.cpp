#include "hetero/heartbeat.h"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

namespace hetero {

std::string this_host_name() {
  char name[256] = {0};
  if (gethostname(name, sizeof(name) - 1) != 0) return "unknown-host";
  return name;
}

std::string heartbeat_path(const RunPaths& paths, int rank) {
  char name[32];
  std::snprintf(name, sizeof(name), "rank-%05d", rank);
  return paths.root + "/heartbeat/" + name;
}

std::string hang_report_path(const RunPaths& paths) { return paths.root + "/hang-report.txt"; }

std::string format_heartbeat(const Heartbeat& h) {
  std::ostringstream os;
  os << "rank: " << h.rank << "\nrole: " << h.role << "\nhost: " << h.host << "\npid: " << h.pid
     << "\nbeat: " << h.beat << "\niter: " << h.iter << "\nregion: " << h.region << "\ndone: " << (h.done ? 1 : 0)
     << "\n";
  return os.str();
}

std::optional<Heartbeat> parse_heartbeat(const std::string& text) {
  Heartbeat h;
  std::istringstream in(text);
  std::string line;
  int fields = 0;
  try {
    while (std::getline(in, line)) {
      const auto colon = line.find(": ");
      if (colon == std::string::npos) continue;
      const std::string key = line.substr(0, colon), value = line.substr(colon + 2);
      ++fields;
      if (key == "rank") h.rank = std::stoi(value);
      else if (key == "role") h.role = value;
      else if (key == "host") h.host = value;
      else if (key == "pid") h.pid = std::stol(value);
      else if (key == "beat") h.beat = std::stoll(value);
      else if (key == "iter") h.iter = std::stoi(value);
      else if (key == "region") h.region = value;
      else if (key == "done") h.done = value == "1";
      else --fields;
    }
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (fields < 8) return std::nullopt;  // a torn or foreign file
  return h;
}

std::string hang_report(const Heartbeat& h, double seconds_ago) {
  std::ostringstream os;
  os << "rank " << h.rank << " (" << h.role << ", " << h.host << ", pid " << h.pid << ") last seen in " << h.region
     << " at iteration " << h.iter << ", " << static_cast<long long>(std::floor(seconds_ago)) << " s ago";
  return os.str();
}

std::chrono::milliseconds heartbeat_period(int hang_timeout_s) {
  const long ms = std::min<long>(5000, std::max<long>(200, hang_timeout_s * 1000L / 5));
  return std::chrono::milliseconds(ms);
}

HangWatch::HangWatch(RunPaths paths, int world_size, int self_rank, std::chrono::milliseconds timeout)
    : paths_(std::move(paths)), world_size_(world_size), self_rank_(self_rank), timeout_(timeout) {}

std::optional<std::string> HangWatch::poll(std::chrono::steady_clock::time_point now) {
  for (int r = 0; r < world_size_; ++r) {
    if (r == self_rank_) continue;
    std::ifstream in(heartbeat_path(paths_, r));
    if (!in) continue;
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto h = parse_heartbeat(text);
    Seen& s = seen_[r];
    if (h && h->beat != s.beat) {
      // Every rank of this run rewrote its file before the rendezvous that
      // precedes any watch, so what is there is this run's.
      s.live = true;
      s.beat = h->beat;
      s.changed = now;
      s.last = *h;
    }
    if (!s.live || s.last.done) continue;
    const double age = std::chrono::duration<double>(now - s.changed).count();
    if (now - s.changed > timeout_) return hang_report(s.last, age);
  }
  return std::nullopt;
}

HeartbeatThread::HeartbeatThread(RunPaths paths, Heartbeat identity, const RankPosition* position,
                                 std::chrono::milliseconds period)
    : paths_(std::move(paths)), beat_(std::move(identity)), position_(position), period_(period) {
  fs::create_directories(paths_.root + "/heartbeat");
  write_beat(false);  // before the thread: the rank is visible from its first moment
  thread_ = std::thread([this] { run(); });
}

HeartbeatThread::~HeartbeatThread() { finish(); }

void HeartbeatThread::watch(int world_size, std::chrono::milliseconds timeout,
                            std::function<void(const std::string&)> on_hang) {
  std::lock_guard<std::mutex> lock(mutex_);
  watch_.emplace(paths_, world_size, beat_.rank, timeout);
  on_hang_ = std::move(on_hang);
}

void HeartbeatThread::finish() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  write_beat(true);
}

void HeartbeatThread::write_beat(bool done) {
  beat_.beat += 1;
  beat_.done = done;
  if (position_) {
    beat_.iter = position_->iter.load(std::memory_order_relaxed);
    const std::string region = position_->region.load(std::memory_order_relaxed);
    beat_.region = position_->after.load(std::memory_order_relaxed) ? "after " + region : region;
  }
  // Best effort: a heartbeat that cannot be written (a full disk) must not
  // end a healthy rank; its watchers then report it, naming the rank.
  const std::string path = heartbeat_path(paths_, beat_.rank);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << format_heartbeat(beat_);
    if (!out.flush()) return;
  }
  std::rename(tmp.c_str(), path.c_str());
}

void HeartbeatThread::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  bool reported = false;
  while (!stopping_) {
    wake_.wait_for(lock, period_);
    if (stopping_) break;
    write_beat(false);
    if (watch_ && !reported) {
      if (auto report = watch_->poll(std::chrono::steady_clock::now())) {
        reported = true;
        auto on_hang = on_hang_;
        lock.unlock();
        if (on_hang) on_hang(*report);
        lock.lock();
      }
    }
  }
}

}  // namespace hetero
