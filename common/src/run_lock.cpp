#include "hetero/run_lock.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "hetero/errors.h"
#include "hetero/heartbeat.h"

namespace fs = std::filesystem;

namespace hetero {
namespace {

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::string slurm_job_id() {
  const char* id = std::getenv("SLURM_JOB_ID");
  return id ? id : "";
}

std::map<std::string, std::string> parse_lock(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(": ");
    if (colon != std::string::npos) out[line.substr(0, colon)] = line.substr(colon + 2);
  }
  return out;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

bool pid_alive(const std::string& pid_text) {
  char* end = nullptr;
  const long pid = std::strtol(pid_text.c_str(), &end, 10);
  if (pid <= 0 || *end != '\0') return false;
  return kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

}  // namespace

std::vector<std::string> earlier_run_contents(const RunPaths& paths) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const char* file : {"config.yaml", "metrics.jsonl"})
    if (fs::exists(paths.root + "/" + file, ec)) found.push_back(file);
  for (const char* dir : {"trace", "weights", "embeddings", "tensorboard"}) {
    const fs::path p = paths.root + "/" + dir;
    if (fs::is_directory(p, ec) && !fs::is_empty(p, ec)) found.push_back(std::string(dir) + "/");
  }
  // logs/ also holds Slurm's own output, written before any rank starts.
  if (fs::is_directory(paths.logs_dir(), ec)) {
    for (const auto& entry : fs::directory_iterator(paths.logs_dir(), ec)) {
      if (entry.path().filename().string().rfind("rank-", 0) == 0) {
        found.push_back("logs/rank-*.log");
        break;
      }
    }
  }
  return found;
}

bool start_resumes(const RunPaths& paths, const std::string& resume) {
  std::error_code ec;
  // auto continues only where there is a checkpoint; a named folder always resumes.
  return resume != "none" && (resume != "auto" || fs::exists(paths.checkpoint_latest(), ec));
}

void check_run_dir_intent(const RunPaths& paths, bool resuming, bool overwrite) {
  if (resuming || overwrite) return;
  const auto found = earlier_run_contents(paths);
  if (found.empty()) return;
  std::string list;
  for (const auto& f : found) list += (list.empty() ? "" : ", ") + f;
  throw ConfigError("--out " + paths.root + " already holds a run (" + list +
                    ") and this start does not resume it (no checkpoints/latest, or --resume none); "
                    "choose a new --out, or pass --overwrite to write this run over it");
}

RunDirLock::RunDirLock(const RunPaths& paths) : path_(paths.root + "/lock") {
  std::ostringstream os;
  os << "pid: " << getpid() << "\nhost: " << this_host_name() << "\nstarted: " << utc_now() << "\n";
  const std::string job = slurm_job_id();
  if (!job.empty()) os << "slurm_job_id: " << job << "\n";
  content_ = os.str();
  fs::create_directories(paths.root);
  {
    const int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd >= 0) {
      const bool ok = write(fd, content_.data(), content_.size()) == static_cast<ssize_t>(content_.size());
      const int err = errno;
      close(fd);
      if (!ok) {
        unlink(path_.c_str());
        throw std::runtime_error("cannot write " + path_ + ": " + std::strerror(err));
      }
      held_ = true;
      return;
    }
    if (errno != EEXIST) throw std::runtime_error("cannot create " + path_ + ": " + std::strerror(errno));
    const std::string text = read_text(path_);
    auto holder = parse_lock(text);
    const std::string who = "pid " + holder["pid"] + " on host " + holder["host"] + " (started " +
                            holder["started"] + (holder.count("slurm_job_id") ? ", Slurm job " +
                            holder["slurm_job_id"] : std::string()) + ")";
    if (!job.empty() && holder["slurm_job_id"] == job) {
      // An earlier start of this very job (a requeue) never released it.
      const std::string tmp = path_ + ".tmp";
      std::ofstream(tmp, std::ios::trunc) << content_;
      if (std::rename(tmp.c_str(), path_.c_str()) != 0)
        throw std::runtime_error("cannot replace " + path_ + ": " + std::strerror(errno));
      held_ = true;
      return;
    }
    if (holder.count("pid") == 0 || holder.count("host") == 0)
      throw ConfigError(path_ + " exists but is not a lock this tool wrote ('" + text.substr(0, 80) +
                        "'); if no job uses " + paths.root + ", remove it: rm " + path_);
    if (holder["host"] == this_host_name()) {
      if (pid_alive(holder["pid"]))
        throw ConfigError("run directory " + paths.root + " is in use by another job: " + who + " holds " + path_ +
                          "; wait for it to end or choose another --out");
      throw ConfigError("run directory " + paths.root + " has a stale lock: " + path_ + " was left by " + who +
                        ", which is no longer running (it ended without removing it); if no other job uses " +
                        paths.root + ", clear it with: rm " + path_);
    }
    throw ConfigError("run directory " + paths.root + " is locked by " + who + ": " + path_ +
                      "; if that job has ended (squeue -j <id>, or ps on that host), clear it with: rm " + path_ +
                      ", else choose another --out");
  }
}

RunDirLock::~RunDirLock() { release(); }

void RunDirLock::release() {
  if (!held_) return;
  held_ = false;
  if (read_text(path_) == content_) unlink(path_.c_str());
}

}  // namespace hetero
