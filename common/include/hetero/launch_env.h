// Where a process learns its rank (design §5): Slurm variables, or the
// torchrun-style ones that `hetero-launch local` sets.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace hetero {

struct ProcessPlacement {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string source;  // "slurm", "torchrun" or "default"
};

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// Reads the placement from `env` (the process environment by default).
// Slurm wins when SLURM_PROCID is set; RANK/WORLD_SIZE otherwise; a single
// process when neither is. Throws ConfigError on malformed values.
ProcessPlacement placement_from_env(const EnvLookup& env = {});

// True when something listens on TCP `port` of this host (a bind with
// SO_REUSEADDR fails), so a rendezvous there would meet another job's store.
bool tcp_port_in_use(int port);

// A token that tells this job's ranks from another job's at one rendezvous
// port: HETERO_JOB_TOKEN (set by hetero-launch local), else the Slurm job and
// step ids, else "" (no check).
std::string job_token_from_env(const EnvLookup& env = {});

// Expands a Slurm hostlist ("node[01-03,07],gpu5") into host names.
std::vector<std::string> expand_slurm_hostlist(const std::string& list);

}  // namespace hetero
