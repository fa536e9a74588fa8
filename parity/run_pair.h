// `hetero-parity run`: the two jobs of a parity check, the hetero job (A) and
// its reference (B), as hetero-launch command lines, and running them.
#pragma once

#include <string>
#include <vector>

namespace hetero::parity {

struct PairSpec {
  std::string launcher = "local";  // local; slurm is refused for now
  std::string launch_bin;          // hetero-launch (default: beside hetero-parity)
  std::string recipe, scale, reference_scale, out;
  int iters = 0;
  std::vector<int> dump_at;                         // iterations whose embeddings are dumped
  std::vector<std::string> set_both, set_a, set_b;  // --set overrides
  std::vector<std::string> trainer_args;            // after `--`: given to both trainers
};

struct JobCommand {
  std::string name;     // "hetero" or "reference"
  std::string run_dir;  // OUT/hetero, OUT/reference
  std::vector<std::string> argv;
};

// "1,2,10" -> {1, 2, 10} (sorted, unique), "none" -> {}. Every entry must be
// an iteration in [1, iters]; throws ConfigError otherwise.
std::vector<int> parse_iteration_list(const std::string& text, int iters);
// 1, 2 and the last iteration.
std::vector<int> default_dump_iterations(int iters);

// A: hetero-launch local --recipe R --scale S --out OUT/hetero --iters N
//    [--set k=v (common, then --set-a)] [-- --dump-embeddings-at LIST TRAINER_ARGS]
// B: the same at --reference-scale with --set-b, into OUT/reference.
// Throws ConfigError for --launcher slurm (not yet supported) and bad values.
std::vector<JobCommand> build_pair_commands(const PairSpec& spec);

// One line a shell would run ('quoted' where needed).
std::string shell_join(const std::vector<std::string>& argv);

// Runs argv[0] with argv (no shell), output to this terminal; returns its
// exit status (128 + signal when killed).
int run_command(const std::vector<std::string>& argv);

}  // namespace hetero::parity
