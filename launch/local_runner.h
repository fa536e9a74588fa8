// Runs a job on this machine as N processes with torchrun-style variables,
// each rank's output in RUN/logs. The first rank to fail ends the job: its
// error is printed, the others are stopped, nothing is left behind.
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
};

// Returns 0 when every rank exits 0, otherwise the failing rank's status
// (at least 1).
int run_local_job(const LocalJob& job);

}  // namespace hetero
