// hetero-train: one process per GPU (or CPU slot). Rank and world come from
// Slurm or torchrun-style variables; the recipe and scale give the layout.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

#include <boost/program_options.hpp>
#include <ATen/Parallel.h>
#ifdef HETERO_WITH_CUDA
#include <c10/cuda/CUDAFunctions.h>
#endif

#include "checkpoint/resume.h"
#include "hetero/cli.h"
#include "hetero/errors.h"
#include "hetero/exit_codes.h"
#include "hetero/heartbeat.h"
#include "hetero/run_lock.h"
#include "stop_signal.h"
#include "telemetry/kernel_trace.h"
#include "trainer.h"

namespace po = boost::program_options;
using namespace hetero;

namespace {

// What the trainer itself cannot run (yet), stated before any group exists.
// (The recipe's own rules, run-ahead and vocabulary split among them, are
// plan_topology's.)
void check_supported(const JobTopology& topo) {
  ProblemList p;
  for (const ModuleLayout* m : {&topo.encoder, &topo.llm}) {
    if (m->dims.cp != 1)
      p.add(m->name + ".cp=" + std::to_string(m->dims.cp) +
            ": this trainer runs without context parallelism so far; set cp=1");
  }
  p.throw_if_any();
}

// The command line's own ranges, one message for all of them.
void check_flags(const TrainerOptions& o, int threads, int timeout_s, int hang_timeout_s) {
  ProblemList p;
  if (o.run_dir.empty()) p.add("--out is empty; give the run directory, e.g. --out runs/first");
  if (o.iters < 0)
    p.add("--iters=" + std::to_string(o.iters) + " must be 0 (the recipe's train.train_iters) or more");
  if (threads < 1) p.add("--threads=" + std::to_string(threads) + " must be at least 1 (CPU threads per process)");
  if (timeout_s < 1)
    p.add("--timeout-s=" + std::to_string(timeout_s) + " must be at least 1 second (default 300)");
  if (hang_timeout_s < -1)
    p.add("--hang-timeout-s=" + std::to_string(hang_timeout_s) +
          " must be -1 (the recipe's launch.hang_timeout_s), 0 (off) or more seconds");
  if (o.fail_at_iter < -1 || o.fail_at_iter == 0)
    p.add("--fail-at-iter=" + std::to_string(o.fail_at_iter) + " must be an iteration (1 or more)");
  p.throw_if_any();
}

// The hang timeout in seconds (0: off). It must stay below the collective
// timeout, or a hung rank would again be reported as some peer's timeout.
int hang_timeout_of(int flag, int recipe_value, int timeout_s, int rank) {
  const int hang = flag >= 0 ? flag : recipe_value;
  if (hang > 0 && hang >= timeout_s) {
    const int lowered = std::max(1, timeout_s / 2);
    if (rank == 0)
      std::cerr << "hetero-train: the hang timeout " << hang << " s is not below --timeout-s=" << timeout_s
                << "; using " << lowered << " s so a hung rank is named before the collectives time out" << std::endl;
    return lowered;
  }
  return hang;
}

at::Device pick_device(const std::string& name, int local_rank) {
  if (name == "cpu") return at::kCPU;
#ifdef HETERO_WITH_CUDA
  if (name == "cuda" || name == "auto") {
    const int n = static_cast<int>(c10::cuda::device_count());
    if (n == 0) {
      if (name == "cuda") throw ConfigError("--device cuda: no CUDA device is visible to this process");
      return at::kCPU;
    }
    c10::cuda::set_device(static_cast<c10::DeviceIndex>(local_rank % n));
    return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(local_rank % n));
  }
#else
  if (name == "cuda") throw ConfigError("--device cuda: this build has no CUDA support (built against a CPU LibTorch)");
  if (name == "auto") return at::kCPU;
#endif
  throw ConfigError("--device '" + name + "' is not one of auto, cpu, cuda");
}

}  // namespace

int main(int argc, char** argv) {
  int rank = -1;
  try {
    RecipeArgs recipe_args;
    TrainerOptions opts;
    std::string device_name;
    int timeout_s = 0, threads = 0, hang_timeout_s = -1;
    bool no_trace = false, overwrite = false;
    std::string dump_at, save_at, dtype, resume;
    po::options_description desc("hetero-train: train a hetero VLM (one process per rank)\nOptions");
    add_recipe_options(desc, recipe_args);
    desc.add_options()
      ("out", po::value(&opts.run_dir)->required(), "run directory (config.yaml, metrics.jsonl, ...)")
      ("iters", po::value(&opts.iters)->default_value(0), "iterations to run (0: the recipe's train.train_iters)")
      ("device", po::value(&device_name)->default_value("auto"), "auto, cpu or cuda")
      ("threads", po::value(&threads)->default_value(1), "intra-op CPU threads per process")
      ("timeout-s", po::value(&timeout_s)->default_value(300), "rendezvous and collective timeout in seconds")
      ("hang-timeout-s", po::value(&hang_timeout_s)->default_value(-1),
       "name a rank whose heartbeat is this many seconds old as hung and end the job "
       "(-1: the recipe's launch.hang_timeout_s; 0: off)")
      ("overwrite", po::bool_switch(&overwrite),
       "write this run into an --out that holds an earlier one (refused otherwise, unless the start resumes it)")
      ("dtype", po::value(&dtype)->default_value("auto"), "compute dtype: auto (bf16 on CUDA, fp32 on CPU), fp32, bf16")
      ("distributed-optimizer", po::bool_switch(&opts.distributed_optimizer),
       "shard AdamW state over each module's data-parallel group")
      ("no-trace", po::bool_switch(&no_trace), "do not write RUN/trace/rank-NNNNN.json")
      ("kernel-trace-at", po::value(&opts.kernel_trace_at)->default_value(0),
       "record this iteration's ATen ops and CUDA kernels (PyTorch profiler) into "
       "RUN/trace/kernels-rank-NNNNN.json, summed by scripts/kernel_top.py (CUDA builds; 0: off)")
      ("tensorboard", po::bool_switch(&opts.tensorboard),
       "write TensorBoard scalars (Megatron's tags) to RUN/tensorboard from the logging rank")
      ("dump-embeddings-at", po::value(&dump_at), "iterations whose embeddings go to RUN/embeddings, e.g. 1,2,10")
      ("save-weights-at", po::value(&save_at),
       "iterations after which each module's full weights go to RUN/weights (0: at initialisation), e.g. 0,5")
      ("llm-init-from-hf", po::value(&opts.llm_init_from_hf),
       "start the LLM from this Hugging Face NemotronH checkpoint folder (any tp/ep/pp layout)")
      ("encoder-init-from-hf", po::value(&opts.encoder_init_from_hf),
       "start the vision encoder from this Hugging Face RADIO checkpoint folder")
      ("resume", po::value(&resume)->default_value("auto"),
       "auto: continue from RUN/checkpoints/latest when there is one; none: start fresh; or a checkpoint folder "
       "(RUN/checkpoints/iter-N, any layout)")
      ("encoder-delay-ms", po::value(&opts.encoder_delay_ms)->default_value(0.0),
       "testing: sleep this long in every encoder forward (a slow encoder)")
      ("inject-nonfinite-at", po::value(&opts.nonfinite_at_iter)->default_value(-1),
       "testing: make one gradient NaN on the last rank at this iteration")
      ("kill-during-save-at", po::value(&opts.kill_during_save_at)->default_value(-1),
       "testing: the last rank kills itself while writing this iteration's checkpoint")
      ("fail-at-iter", po::value(&opts.fail_at_iter)->default_value(-1), "testing: throw at this iteration...")
      ("fail-rank", po::value(&opts.fail_rank)->default_value(-1), "...on this rank");
    if (!parse_command_line(argc, argv, desc, "hetero-train")) return 0;
    check_flags(opts, threads, timeout_s, hang_timeout_s);

    const Recipe recipe = load_recipe(recipe_args.recipe, recipe_args.scale, recipe_args.overrides);
    const JobTopology topo = plan_topology(recipe);
    check_supported(topo);
    opts.trace = !no_trace;
    if (!dump_at.empty()) opts.dump_embeddings_at = parse_iteration_list("--dump-embeddings-at", dump_at, 1);
    if (!save_at.empty()) opts.save_weights_at = parse_iteration_list("--save-weights-at", save_at, 0);
    if (opts.iters == 0) opts.iters = recipe.train.train_iters;
    if (!opts.save_weights_at.empty() && *opts.save_weights_at.rbegin() > opts.iters)
      throw ConfigError("--save-weights-at " + std::to_string(*opts.save_weights_at.rbegin()) +
                        " is past the run's last iteration (" + std::to_string(opts.iters) +
                        "): it would never be written; give iterations up to " + std::to_string(opts.iters));
    if (opts.kernel_trace_at < 0 || opts.kernel_trace_at > opts.iters)
      throw ConfigError("--kernel-trace-at " + std::to_string(opts.kernel_trace_at) +
                        " is not an iteration of this run; give 1 to " + std::to_string(opts.iters) + " (0: off)");
    if (opts.kernel_trace_at > 0 && !kernel_trace_supported())
      throw ConfigError("--kernel-trace-at needs a CUDA build of hetero-train (this one is CPU-only); leave it out");
    opts.resume_from = resolve_resume(resume, RunPaths{opts.run_dir});

    const ProcessPlacement placement = placement_from_env();
    rank = placement.rank;
    if (placement.world_size != topo.world_size)
      throw ConfigError("scale " + recipe.scale.name + " needs " + std::to_string(topo.world_size) +
                        " ranks but this job has " + std::to_string(placement.world_size) + " (from " +
                        placement.source + " variables); launch " + std::to_string(topo.world_size) +
                        " processes, e.g. hetero-launch local --nproc " + std::to_string(topo.world_size));
    if (opts.fail_rank < -1 || opts.fail_rank >= placement.world_size)
      throw ConfigError("--fail-rank=" + std::to_string(opts.fail_rank) + " is not a rank of this " +
                        std::to_string(placement.world_size) + "-rank job; give 0 to " +
                        std::to_string(placement.world_size - 1));
    // One rank owns the run directory for the job: the launcher (which then
    // says so through the environment), else rank 0.
    const RunPaths paths{opts.run_dir};
    std::optional<RunDirLock> lock;
    if (rank == 0 && !std::getenv(kRunLockHeldEnv)) {
      // A requeued Slurm job continues the run it wrote itself.
      const char* restarts = std::getenv("SLURM_RESTART_COUNT");
      const bool requeued = restarts && std::atoi(restarts) > 0;
      lock.emplace(paths);  // first: a live job's lock says more than its files
      check_run_dir_intent(paths, !opts.resume_from.empty() || requeued, overwrite);
      std::filesystem::remove(hang_report_path(paths));  // an earlier run's
    }
    install_stop_signal_handler();
    at::set_num_threads(threads);
    const at::Device device = pick_device(device_name, placement.local_rank);
    if (dtype == "bf16" || (dtype == "auto" && device.is_cuda()))
      opts.compute_dtype = at::kBFloat16;
    else if (dtype != "fp32" && dtype != "auto")
      throw ConfigError("--dtype '" + dtype + "' is not one of auto, fp32, bf16");
    std::filesystem::create_directories(opts.run_dir);

    // Hang detection: every rank beats; rank 0 and the logging rank watch
    // (either may be the one that hangs). The collective timeout backs it up.
    const int hang_s = hang_timeout_of(hang_timeout_s, recipe.launch.hang_timeout_s, timeout_s, rank);
    RankPosition position;
    std::unique_ptr<HeartbeatThread> heartbeat;
    if (hang_s > 0) {
      Heartbeat me;
      me.rank = rank;
      me.role = rank_role(topo, rank);
      me.host = this_host_name();
      me.pid = static_cast<long>(getpid());
      heartbeat = std::make_unique<HeartbeatThread>(paths, me, &position, heartbeat_period(hang_s));
    }

    // Not freed if training throws: tearing down groups whose peers are
    // mid-collective can block, and the process is exiting anyway.
    auto* comms = new JobComms(connect(placement, topo, device, std::chrono::seconds(timeout_s)));
    if (heartbeat && (rank == 0 || rank == topo.logging_rank())) {
      RunDirLock* held = lock ? &*lock : nullptr;
      heartbeat->watch(topo.world_size, std::chrono::seconds(hang_s), [paths, rank, held](const std::string& report) {
        std::cerr << "hetero-train rank " << rank << ": hang detected: " << report
                  << " (--hang-timeout-s / launch.hang_timeout_s); ending the job" << std::endl;
        try {
          write_file_atomically(hang_report_path(paths), report + "\n");
        } catch (const std::exception& e) {
          std::cerr << "hetero-train rank " << rank << ": " << e.what() << std::endl;
        }
        if (held) held->release();
        // The main thread is blocked in a collective with the hung rank:
        // nothing can be unwound, so the process ends here.
        std::_Exit(kExitRankHung);
      });
    }
    int status = 0;
    {
      Trainer trainer(recipe, topo, *comms, opts);
      trainer.timeline.report_position_to(&position);
      status = train(trainer);
      trainer.timeline.close();  // a trace that cannot be finished fails the run
    }
    if (heartbeat) heartbeat->finish();
    disconnect(*comms);
    delete comms;
    return status;
  } catch (const ConfigError& e) {
    std::cerr << "hetero-train: " << e.what() << std::endl;
    return 2;
  } catch (const CheckpointError& e) {
    std::cerr << "hetero-train: " << e.what() << std::endl;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "hetero-train rank " << rank << ": error: " << e.what() << std::endl;
    return 1;
  }
}
