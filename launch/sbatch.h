// The sbatch script of a job (design §2, §5): rendered from the recipe, the
// scale's topology and the launch settings, then handed to sbatch.
//
// The script never computes a rank: srun starts one hetero-train per GPU and
// each task reads SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID, finding its role
// and coordinates from the recipe's topology. The script's own jobs are the
// rendezvous address, the environment, and the requeue protocol: Slurm sends
// USR1 to the batch shell before the time limit, the script passes it to the
// job step, the trainer stops after the current iteration with status 75,
// and the script requeues the job at most launch.max_requeues times.
#pragma once

#include <string>
#include <vector>

#include "hetero/recipe.h"
#include "hetero/topology.h"

namespace hetero {

struct SbatchJob {
  std::string recipe_name;
  std::string recipe_path;             // absolute: the script runs from anywhere
  std::string scale;
  std::string run_dir;                 // absolute
  std::string trainer;                 // absolute path of hetero-train
  std::vector<std::string> overrides;  // --set values forwarded to hetero-train
  // hetero-train --resume of the first start (auto, none or a checkpoint
  // folder); a requeued start always continues from the latest checkpoint.
  std::string resume = "auto";
  LaunchConfig launch;
  JobTopology topo;
};

// The script's text. Pieces, in order: header_comment, sbatch_directives,
// rendezvous_and_environment, requeue_setup, srun_command, wait_and_requeue.
std::string render_sbatch(const SbatchJob& job);

// Path of the script inside a run directory, and of Slurm's output files
// (%j is the job id; a requeued job keeps its id and appends).
std::string sbatch_script_path(const std::string& run_dir);
std::string slurm_output_pattern(const std::string& run_dir);
std::string slurm_error_pattern(const std::string& run_dir);

// `text` as one word for bash: unchanged when it is plain, single-quoted otherwise.
std::string shell_quote(const std::string& text);

// Runs `sbatch --parsable SCRIPT` and returns the job id. Throws
// std::runtime_error when sbatch is missing, fails (its stderr in the
// message) or prints no job id.
std::string submit_sbatch(const std::string& script, const std::string& sbatch = "sbatch");

}  // namespace hetero
