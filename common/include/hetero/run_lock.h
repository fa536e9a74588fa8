// Who may write a run directory (design §8): one job at a time (RUN/lock),
// and only into a folder that holds no earlier run unless the start resumes
// that run or says --overwrite. One rank takes the lock: the launcher for
// local jobs, hetero-train's rank 0 otherwise (Slurm jobs on several hosts).
#pragma once

#include <string>
#include <vector>

#include "hetero/run_dir.h"

namespace hetero {

// What in `paths.root` shows an earlier run: config.yaml, metrics.jsonl,
// traces, rank logs, weights, embeddings, TensorBoard files (relative
// names; empty for a new or empty folder, or one with only Slurm's output).
std::vector<std::string> earlier_run_contents(const RunPaths& paths);

// Whether a start with `--resume resume` continues the run in `paths`: the
// flag is not "none" and RUN/checkpoints/latest exists.
bool start_resumes(const RunPaths& paths, const std::string& resume);

// Throws ConfigError naming what is there and the two ways on (resume, or
// --overwrite) when `paths` holds an earlier run and the start neither
// resumes it nor was told to overwrite it.
void check_run_dir_intent(const RunPaths& paths, bool resuming, bool overwrite);

// RUN/lock, held while a job writes RUN: "pid: P", "host: H", "started: T"
// and, in a Slurm job, "slurm_job_id: J". Taking it fails with a ConfigError
// while another job holds it (naming pid, host and start) and for a lock its
// dead job left behind (naming it and saying how to clear it); a lock left by
// an earlier start of the same Slurm job (a requeue) is taken over.
class RunDirLock {
 public:
  explicit RunDirLock(const RunPaths& paths);
  ~RunDirLock();
  RunDirLock(const RunDirLock&) = delete;
  RunDirLock& operator=(const RunDirLock&) = delete;
  // Removes the lock now (also done by the destructor); idempotent.
  void release();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string content_;  // what this job wrote, so only its own lock is removed
  bool held_ = false;
};

// The environment variable through which the launcher tells its ranks that
// it holds RUN/lock and checked the run directory's intent for them.
inline constexpr const char* kRunLockHeldEnv = "HETERO_RUN_LOCK_HELD";

}  // namespace hetero
