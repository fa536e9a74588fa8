// Runs a job on this machine as N processes with torchrun-style variables,
// each rank's output in RUN/logs. The first rank to fail ends the job: its
// error is printed, the others are stopped, nothing is left behind. SIGUSR1
// to the launcher is passed on to every rank, which then stops after the
// current iteration with kExitStopRequested: a stop on request, not a failure.
#pragma once

#include <string>
#include <vector>

namespace hetero {

struct LocalJob {
  std::string trainer;               // path of hetero-train
  std::vector<std::string> args;     // trainer arguments (without argv[0])
  int nproc = 1;
  std::string run_dir;
  int master_port = 0;               // 0: pick a free one
  double grace_s = 5.0;              // SIGTERM -> SIGKILL delay when stopping ranks
  double stop_grace_s = 30.0;        // after one rank stopped on request, how long the others may take
  // The run directory's intent (run_lock.h), checked before any rank starts:
  // a folder holding an earlier run is refused unless the start resumes it
  // (`resume` is not "none" and checkpoints/latest exists) or `overwrite`.
  std::string resume = "auto";
  bool overwrite = false;
};

// The launcher holds RUN/lock while the ranks run and tells them so
// (kRunLockHeldEnv). A rank that reports a hang (kExitRankHung) has its
// report printed first; a finished job ends with a summary of where its
// files are.
// Returns 0 when every rank exits 0, kExitStopRequested (75) when the ranks
// stopped on request, otherwise the failing rank's status (at least 1).
int run_local_job(const LocalJob& job);

}  // namespace hetero
