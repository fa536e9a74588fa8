// hetero-train: one process per GPU (or CPU slot). Rank and world come from
// Slurm or torchrun-style variables; the recipe and scale give the layout.
#include <algorithm>
#include <filesystem>
#include <iostream>

#include <boost/program_options.hpp>
#include <ATen/Parallel.h>
#ifdef HETERO_WITH_CUDA
#include <c10/cuda/CUDAFunctions.h>
#endif

#include "checkpoint/resume.h"
#include "hetero/cli.h"
#include "hetero/errors.h"
#include "stop_signal.h"
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
    int timeout_s = 0, threads = 0;
    bool no_trace = false;
    std::string dump_at, save_at, dtype, resume;
    po::options_description desc("hetero-train: train a hetero VLM (one process per rank)\nOptions");
    add_recipe_options(desc, recipe_args);
    desc.add_options()
      ("out", po::value(&opts.run_dir)->required(), "run directory (config.yaml, metrics.jsonl, ...)")
      ("iters", po::value(&opts.iters)->default_value(0), "iterations to run (0: the recipe's train.train_iters)")
      ("device", po::value(&device_name)->default_value("auto"), "auto, cpu or cuda")
      ("threads", po::value(&threads)->default_value(1), "intra-op CPU threads per process")
      ("timeout-s", po::value(&timeout_s)->default_value(300), "rendezvous and collective timeout in seconds")
      ("dtype", po::value(&dtype)->default_value("auto"), "compute dtype: auto (bf16 on CUDA, fp32 on CPU), fp32, bf16")
      ("distributed-optimizer", po::bool_switch(&opts.distributed_optimizer),
       "shard AdamW state over each module's data-parallel group")
      ("no-trace", po::bool_switch(&no_trace), "do not write RUN/trace/rank-NNNNN.json")
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

    const Recipe recipe = load_recipe(recipe_args.recipe, recipe_args.scale, recipe_args.overrides);
    const JobTopology topo = plan_topology(recipe);
    check_supported(topo);
    opts.trace = !no_trace;
    if (!dump_at.empty()) opts.dump_embeddings_at = parse_iteration_list("--dump-embeddings-at", dump_at, 1);
    if (!save_at.empty()) opts.save_weights_at = parse_iteration_list("--save-weights-at", save_at, 0);
    if (opts.iters == 0) opts.iters = recipe.train.train_iters;
    if (opts.iters < 0) throw ConfigError("--iters=" + std::to_string(opts.iters) + " must be positive");
    if (!opts.save_weights_at.empty() && *opts.save_weights_at.rbegin() > opts.iters)
      throw ConfigError("--save-weights-at " + std::to_string(*opts.save_weights_at.rbegin()) +
                        " is past the run's last iteration (" + std::to_string(opts.iters) +
                        "): it would never be written; give iterations up to " + std::to_string(opts.iters));
    opts.resume_from = resolve_resume(resume, RunPaths{opts.run_dir});

    const ProcessPlacement placement = placement_from_env();
    rank = placement.rank;
    if (placement.world_size != topo.world_size)
      throw ConfigError("scale " + recipe.scale.name + " needs " + std::to_string(topo.world_size) +
                        " ranks but this job has " + std::to_string(placement.world_size) + " (from " +
                        placement.source + " variables); launch " + std::to_string(topo.world_size) +
                        " processes, e.g. hetero-launch local --nproc " + std::to_string(topo.world_size));
    install_stop_signal_handler();
    at::set_num_threads(threads);
    const at::Device device = pick_device(device_name, placement.local_rank);
    if (dtype == "bf16" || (dtype == "auto" && device.is_cuda()))
      opts.compute_dtype = at::kBFloat16;
    else if (dtype != "fp32" && dtype != "auto")
      throw ConfigError("--dtype '" + dtype + "' is not one of auto, fp32, bf16");
    std::filesystem::create_directories(opts.run_dir);

    // Not freed if training throws: tearing down groups whose peers are
    // mid-collective can block, and the process is exiting anyway.
    auto* comms = new JobComms(connect(placement, topo, device, std::chrono::seconds(timeout_s)));
    int status = 0;
    {
      Trainer trainer(recipe, topo, *comms, opts);
      status = train(trainer);
    }
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
