// The hetero training loop (design §7), top-down.
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>

#include "checkpoint/checkpoint_writer.h"
#include "checkpoint/resume.h"
#include "hf/hf_nemotron_h.h"
#include "hf/hf_radio.h"
#include "hetero/exit_codes.h"
#include "hetero/regions.h"
#include "hetero/run_dir.h"
#include "hetero/tensorboard.h"
#include "hetero/train_schedule.h"
#include "data/rank_loader.h"
#include "model/llm_flops.h"
#include "optim/grads.h"
#include "optim/nonfinite_guard.h"
#include "stop_signal.h"
#include "telemetry/device_memory.h"
#include "telemetry/kernel_trace.h"
#include "telemetry/weights_snapshot.h"
#include "trainer.h"

namespace hetero {
namespace {

// Loss tokens of the whole global batch: the per-token loss divides by this.
double global_loss_tokens(Trainer& t, int iter) {
  if (!t.llm) return 0;
  const auto& dp = t.comms.llm->dp;
  std::int64_t local = 0;
  for (int mb = 0; mb < t.topo.num_microbatches(); ++mb)
    local += count_loss_tokens(t.data->samples(microbatch_sample_indices(t.topo, iter, dp.rank, mb)));
  at::Tensor n = at::tensor({static_cast<double>(local)}, at::kDouble).to(t.comms.device);
  all_reduce_sum(dp, n);
  return n.cpu().item<double>();
}

// Bad data skipped (data.skip_bad_samples), counted as it is used so that
// reading ahead changes nothing: the bad samples this iteration's samples
// replaced, on tp rank 0 of each lane's last stage (each sample belongs to
// one lane), and the images handed out black so far, where images are
// decoded (tp rank 0 of an encoder replica or of a colocated first stage;
// each image is decoded by one replica). Summed over the world, each counts once.
std::pair<double, double> data_skipped_counts(Trainer& t, int iter) {
  double samples = 0, images = 0;
  if (t.llm && t.comms.llm->tp.rank == 0 && t.comms.llm->pp.rank == t.comms.llm->pp.size() - 1)
    for (int mb = 0; mb < t.topo.num_microbatches(); ++mb)
      for (const Sample& s : t.data->samples(microbatch_sample_indices(t.topo, iter, t.comms.llm->dp.rank, mb)))
        samples += s.skipped_before;
  const ModuleGroups* decoder = t.topo.hetero() ? (t.encoder ? &*t.comms.encoder : nullptr)
                                                : (t.llm && t.comms.llm->pp.rank == 0 ? &*t.comms.llm : nullptr);
  if (decoder && decoder->tp.rank == 0) images = static_cast<double>(t.data->stats().replaced);
  return {samples, images};
}

// config.yaml: the resolved recipe and the topology, as run.
std::string run_config(const Trainer& t) {
  YAML::Node cfg = YAML::Clone(t.recipe.resolved);
  YAML::Node topo;
  topo["mode"] = t.topo.mode;
  topo["world_size"] = t.topo.world_size;
  for (const ModuleLayout* m : {&t.topo.encoder, &t.topo.llm}) {
    YAML::Node n;
    n["ranks"] = std::to_string(m->offset) + "-" + std::to_string(m->end() - 1);
    n["tp"] = m->dims.tp;
    n["cp"] = m->dims.cp;
    n["pp"] = m->dims.pp;
    n["dp"] = m->dims.dp();
    n["ep"] = m->dims.ep;
    n["etp"] = m->dims.etp;
    n["edp"] = m->dims.edp();
    topo[m->name] = n;
  }
  topo["lanes_per_encoder"] = t.topo.lanes_per_encoder();
  topo["encoders_per_lane"] = t.topo.encoders_per_lane();
  topo["num_microbatches"] = t.topo.num_microbatches();
  topo["train_iters"] = t.options.iters;
  cfg["topology"] = topo;
  YAML::Emitter e;
  e << cfg;
  return std::string(e.c_str()) + "\n";
}


// Who this rank is, for the trace's metadata (the profiler groups by it).
TraceRankInfo trace_rank_info(const JobTopology& t, const JobComms& c) {
  const bool runs_llm = c.llm.has_value();
  const ModuleGroups& g = runs_llm ? *c.llm : *c.encoder;
  const std::string module = !t.hetero() ? "colocated" : runs_llm ? "llm" : "encoder";
  return {c.rank, module, g.dp.rank, runs_llm ? g.pp.rank : 0, g.tp.rank};
}

// A resumed start writes a new trace; the earlier start's file moves to
// trace/before-resume-from-iter-N/ (read by hand, not by hetero-profile).
std::string trace_path(const TrainerOptions& o, int rank) {
  if (!o.trace) return "";
  namespace fs = std::filesystem;
  const RunPaths paths{o.run_dir};
  fs::create_directories(paths.trace_dir());
  const std::string path = paths.rank_trace(rank);
  if (!o.resume_from.empty() && fs::exists(path)) {
    const std::string base = paths.trace_dir() + "/before-resume-from-" + fs::path(o.resume_from).filename().string();
    std::string dir = base;
    for (int k = 2; fs::exists(dir + "/" + fs::path(path).filename().string()); ++k) dir = base + "." + std::to_string(k);
    fs::create_directories(dir);
    fs::rename(path, dir + "/" + fs::path(path).filename().string());
  }
  return path;
}

// Each lane's first rank (stage 0, tp 0) collects dumps; together they form
// that rank's dp group.
const Group* dump_group(const JobComms& c) {
  return c.llm && c.llm->tp.rank == 0 && c.llm->pp.rank == 0 ? &c.llm->dp : nullptr;
}
// The parameters of the parts that train. Frozen ones stop requiring
// gradients, so autograd computes none, no optimizer keeps state for them
// and no reduction carries them.
std::vector<Param> trainable_params(std::vector<Param>& params, const TrainConfig& train) {
  std::vector<Param> out;
  for (Param& p : params) {
    if (train.trains(model_part(p.name)))
      out.push_back(p);
    else
      p.value.set_requires_grad(false);
  }
  return out;
}

// --save-weights-at: every rank takes part (shards are joined); see weights_snapshot.h.
void snapshot_weights(Trainer& t, int iter) {
  if (!t.options.save_weights_at.count(iter)) return;
  const RunPaths paths{t.options.run_dir};
  if (t.encoder) save_weights(t.encoder->params(), *t.comms.encoder, "encoder", iter, paths);
  if (t.llm) save_weights(t.llm->params(), *t.comms.llm, "llm", iter, paths, t.llm->buffers());
}

// What a checkpoint holds of this rank: each module it runs, with the
// optimizer of its trainable part.
std::vector<ModuleState> module_states(Trainer& t) {
  std::vector<ModuleState> out;
  if (t.encoder)
    out.push_back({"encoder", &t.encoder->params().params(), t.encoder_optim.get(), {}, &*t.comms.encoder});
  if (t.llm) out.push_back({"llm", &t.llm->params().params(), t.llm_optim.get(), t.llm->buffers(), &*t.comms.llm});
  return out;
}

CheckpointProgress progress_after(const Trainer& t, int iter, int skipped, std::int64_t data_skipped) {
  CheckpointProgress p;
  p.iteration = iter;
  p.consumed_samples = static_cast<std::int64_t>(iter) * t.topo.global_batch_size;
  p.skipped_iterations = skipped;
  p.schedule_position = schedule_position(t.recipe.train, iter - skipped);
  p.next_sample_index = p.consumed_samples;  // sample s of iteration i is (i-1)*GBS + j
  p.data_skipped = data_skipped;
  if (t.encoder_optim) p.optimizer_steps["encoder"] = t.encoder_optim->steps();
  if (t.llm_optim) p.optimizer_steps["llm"] = t.llm_optim->steps();
  return p;
}

// --resume: the checkpoint's weights, optimizer state and progress, in this
// rank's layout; the trace shows it as ckpt/load.
CheckpointProgress resume(Trainer& t, std::vector<ModuleState>& modules, bool logs) {
  const auto t0 = std::chrono::steady_clock::now();
  t.timeline.begin_iteration();
  CheckpointProgress p;
  std::string problem;  // each rank reads only the files it needs: agree before training
  {
    auto r = t.timeline.region(regions::kCkptLoad, 0);
    bool unreadable = true;  // a file or manifest problem, not another model
    try {
      CheckpointSource source(t.options.resume_from);
      unreadable = false;
      check_checkpoint_fits(source, modules, t.recipe.resolved);  // names its own fix
      unreadable = true;
      p = load_checkpoint(source, modules, logs);
    } catch (const std::runtime_error& e) {
      problem = e.what();
      if (unreadable)
        problem += "; " + checkpoint_alternatives(std::filesystem::path(t.options.resume_from).parent_path().string());
    }
  }
  at::Tensor refused = at::tensor({problem.empty() ? 0.0 : 1.0}, at::kDouble).to(t.comms.device);
  all_reduce_max(t.comms.world, refused);
  if (refused.cpu().item<double>() > 0) {
    if (!problem.empty()) throw CheckpointError(problem);
    throw CheckpointError("another rank refused " + t.options.resume_from + " (its log names the problem)");
  }
  t.timeline.end_iteration();
  if (logs)
    std::cout << "hetero-train: resumed from " << t.options.resume_from << " after iteration " << p.iteration
              << " (consumed samples " << p.consumed_samples << ", skipped iterations " << p.skipped_iterations
              << ") in " << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s"
              << std::endl;
  return p;
}

// metrics.jsonl continues in one file: rows this start will write again go.
void continue_metrics(const RunPaths& paths, int iter) {
  const int dropped = truncate_metrics_after(paths.metrics(), iter);
  if (dropped > 0)
    std::cout << "hetero-train: " << paths.metrics() << ": dropped " << dropped << " row(s) after iteration " << iter
              << (iter > 0 ? ", which this start trains again from the checkpoint" : " (a fresh start)") << std::endl;
}

// One line for the log: which parts train.
std::string describe_freeze(const TrainConfig& train) {
  if (train.freeze.empty()) return "training every part (vision, projector, llm)";
  std::string trains, frozen;
  for (const std::string& part : kFreezableParts) {
    std::string& list = train.trains(part) ? trains : frozen;
    list += (list.empty() ? "" : ", ") + part;
  }
  return "training " + trains + "; frozen (no gradients, no optimizer state): " + frozen;
}

struct StepResult {
  double grad_norm = 0;
  double lr = 0;
  std::int64_t num_zeros = 0;
  bool skipped = false;  // non-finite gradients: no update on any rank
  at::Tensor log_sums;   // the caller's logging sums, summed over the world (CPU, fp64)
};

// The global gradient norm over both modules (each distinct element counted
// once in the whole job), clipping by it, and one AdamW step per module.
// `log_sums` (fp64, any length) ride in the same all-reduce over the world:
// one reduction and one host read for every summed scalar of the iteration.
StepResult clip_and_step(Trainer& t, std::vector<Param>& enc_params, std::vector<Param>& llm_params, double lr,
                         double weight_decay, const at::Tensor& log_sums) {
  at::Tensor stats = at::zeros({2}, at::TensorOptions().dtype(at::kDouble).device(t.comms.device));
  if (t.encoder) stats = stats + local_grad_stats(enc_params, t.comms.encoder->tp, t.comms.encoder->dp, t.comms.device);
  if (t.llm) stats = stats + local_grad_stats(llm_params, t.comms.llm->tp, t.comms.llm->dp, t.comms.device);
  at::Tensor global = at::cat({stats, log_sums.to(t.comms.device, at::kDouble)});
  all_reduce_sum(t.comms.world, global);
  global = global.cpu();
  StepResult out;
  out.grad_norm = std::sqrt(global[0].item<double>());
  out.num_zeros = static_cast<std::int64_t>(global[1].item<double>());
  out.log_sums = global.narrow(0, 2, log_sums.numel());
  out.lr = lr;
  if (!std::isfinite(out.grad_norm)) {
    out.skipped = true;
    return out;
  }
  // Clipping: the optimizers take the gradients times `factor` as they read
  // them (no pass of its own over every gradient).
  const double clip = t.recipe.train.clip_grad;
  const double factor = clip > 0 && out.grad_norm > clip ? clip / (out.grad_norm + 1e-6) : 1.0;
  if (t.encoder_optim) t.encoder_optim->step(lr, weight_decay, factor);
  if (t.llm_optim) t.llm_optim->step(lr, weight_decay, factor);
  return out;
}

}  // namespace

Trainer::Trainer(const Recipe& r, const JobTopology& t, JobComms& c, TrainerOptions o)
    : recipe(r),
      topo(t),
      comms(c),
      options(std::move(o)),
      data(make_rank_loader(r, t, c)),
      routes{t},
      p2p(c.world),
      timeline(trace_path(options, c.rank), trace_rank_info(t, c), c.device),
      dump(options.dump_embeddings_at, dump_group(c), options.run_dir) {
  if (comms.encoder) {
    encoder = std::make_unique<RadioEncoder>(r.encoder, r.llm.hidden_size, r.seed, comms.encoder->tp, comms.device,
                                              options.compute_dtype);
    // Before the optimizer exists: it takes its fp32 main copy from here.
    if (!options.encoder_init_from_hf.empty()) load_hf_radio(*encoder, options.encoder_init_from_hf, r.encoder);
    encoder_trainable = trainable_params(encoder->params().params(), r.train);
    if (!encoder_trainable.empty())
      encoder_optim = make_optimizer(encoder_trainable, r.train, comms.encoder->dp, options.distributed_optimizer);
  }
  if (comms.llm) {
    llm = std::make_unique<LanguageModel>(r.llm, r.seed, *comms.llm, comms.llm->pp.rank, comms.llm->pp.size(),
                                          comms.device, options.compute_dtype, t.llm.dims.sp);
    if (!options.llm_init_from_hf.empty()) load_hf_nemotron_h(*llm, options.llm_init_from_hf, r.llm);
    llm_trainable = trainable_params(llm->params().params(), r.train);
    if (!llm_trainable.empty())
      llm_optim = make_optimizer(llm_trainable, r.train, comms.llm->dp, options.distributed_optimizer);
  }
  if (t.hetero()) bridge = std::make_unique<BridgeEndpoint>(p2p);
}

int train(Trainer& t) {
  const RunPaths paths{t.options.run_dir};
  const bool logs = t.comms.rank == t.topo.logging_rank();
  std::vector<ModuleState> modules = module_states(t);
  const CheckpointProgress start = t.options.resume_from.empty() ? CheckpointProgress{} : resume(t, modules, logs);
  const std::string config = run_config(t);
  CheckpointWriter checkpoints(paths, t.comms.rank, t.comms.world_size, t.recipe.train.keep_last);
  checkpoints.kill_during_save_at(t.comms.rank == t.comms.world_size - 1 ? t.options.kill_during_save_at : -1);
  if (t.comms.rank == 0) {
    write_file_atomically(paths.config(), config);
    checkpoints.remove_stale_partials();
  }
  const int save_interval = t.recipe.train.save_interval;  // 0: no checkpoints
  if (start.iteration >= t.options.iters) {
    if (logs)
      std::cout << "hetero-train: the checkpoint is at iteration " << start.iteration << ", --iters is "
                << t.options.iters << ": nothing to train" << std::endl;
    return 0;
  }
  if (save_interval > 0) checkpoints.reserve(pieces_to_save(modules));  // a start that trains nothing pins nothing
  std::unique_ptr<MetricsWriter> metrics;
  if (logs) {
    continue_metrics(paths, start.iteration);
    metrics = std::make_unique<MetricsWriter>(paths.metrics());
  }
  std::unique_ptr<TensorBoardWriter> tensorboard;  // --tensorboard
  if (logs && t.options.tensorboard) tensorboard = std::make_unique<TensorBoardWriter>(paths.tensorboard_dir());
  const LrSchedule schedule = make_lr_schedule(t.recipe.train);
  // Where this rank does not run a module, or the module is frozen, its list is empty.
  auto& enc_params = t.encoder_trainable;
  auto& llm_params = t.llm_trainable;
  int skipped = start.skipped_iterations;
  SkippedStepGuard skip_guard(t.recipe.train.max_skipped_in_a_row);
  // Bad data skipped (data.skip_bad_samples): samples by this start's
  // iterations, on top of what the checkpoint's run had skipped.
  std::int64_t skipped_samples = start.data_skipped;
  std::int64_t data_skipped = start.data_skipped;
  if (logs)
    std::cout << describe_freeze(t.recipe.train) << "; compute in "
              << (t.options.compute_dtype == at::kBFloat16 ? "bf16" : "fp32")
              << ", master weights and optimizer in fp32" << std::endl;
  if (start.iteration == 0) snapshot_weights(t, 0);

  KernelTrace kernel_trace(
      t.options.kernel_trace_at > 0 ? RunPaths{t.options.run_dir}.rank_kernel_trace(t.comms.rank) : "",
      t.options.kernel_trace_at);
  const int first_iter = start.iteration + 1;  // of this start
  for (int iter = first_iter; iter <= t.options.iters; ++iter) {
    kernel_trace.begin(iter);
    const auto start = std::chrono::steady_clock::now();
    if (iter == t.options.fail_at_iter && t.comms.rank == t.options.fail_rank)
      throw std::runtime_error("injected failure at iteration " + std::to_string(iter) + " on rank " +
                               std::to_string(t.comms.rank) + " (--fail-at-iter)");

    t.timeline.begin_iteration();
    t.data->begin_iteration(iter);  // reads ahead through iteration iter + data.prefetch_depth
    // 1-3. Forward and backward of every microbatch, across the bridge.
    zero_grads(enc_params);
    zero_grads(llm_params);
    const double loss_tokens = global_loss_tokens(t, iter);
    const MicrobatchTotals mb =
        t.topo.hetero() && t.encoder ? run_encoder_side(t, iter) : run_llm_pipeline(t, iter, loss_tokens);

    t.dump.write(iter);
    if (iter == t.options.nonfinite_at_iter && t.comms.rank == t.comms.world_size - 1) {
      auto& params = llm_params.empty() ? enc_params : llm_params;
      if (params.empty())
        throw std::runtime_error("--inject-nonfinite-at: the last rank holds no trainable parameter (train.freeze)");
      params.front().value.mutable_grad().view({-1})[0] = std::numeric_limits<float>::quiet_NaN();
    }

    // 4. Per-module gradient reduction over each module's data-parallel group.
    {
      auto r = t.timeline.region(regions::kGradReduce, iter);
      if (t.encoder) reduce_grads_over_dp(enc_params, t.comms.encoder->dp);
      if (t.llm) reduce_grads_over_dp(llm_params, t.comms.llm->dp);
    }

    // Logging sums, reduced with the gradient norm: the loss and images over
    // the lanes (counted where the logging rank's dp group is: tp and cp 0
    // of the last stage), the MoE load-balancing loss over every stage and lane.
    const at::Tensor log_sums = [&] {
      const auto opts = at::TensorOptions().dtype(at::kDouble).device(t.comms.device);
      const RankGrid grid = t.topo.llm.grid();
      const bool counts_loss = t.llm && t.llm->last_stage() && grid.coord(t.comms.rank, "tp") == 0 &&
                               grid.coord(t.comms.rank, "cp") == 0;
      const at::Tensor loss = counts_loss && mb.loss_sum.defined() ? mb.loss_sum.reshape({1}) : at::zeros({1}, opts);
      const at::Tensor images = at::full({1}, counts_loss ? static_cast<double>(mb.images) : 0.0, opts);
      const at::Tensor balance = t.llm ? t.llm->take_load_balancing_sum() : at::zeros({1}, opts);
      return at::cat({loss, images, balance.to(opts)});
    }();

    // 5. Global gradient norm across both modules, clipping, one step each.
    const StepResult step = [&] {
      auto r = t.timeline.region(regions::kOptimStep, iter);
      // Skipped iterations do not advance the schedule.
      const std::int64_t at = schedule_position(t.recipe.train, iter - skipped);
      checkpoints.order_before_updates();  // a pending save's copy comes first
      return clip_and_step(t, enc_params, llm_params, schedule.lr(at), schedule.weight_decay(at), log_sums);
    }();
    snapshot_weights(t, iter);
    if (step.skipped) {
      ++skipped;  // every rank saw the same norm, so every rank skipped
      std::cerr << "rank " << t.comms.rank << ": skipped the optimizer step of iteration " << iter
                << ": the gradient norm is not finite (" << step.grad_norm << ")" << std::endl;
    }

    // Logging: the sums came with the gradient norm; the maxima over all
    // ranks of the stalls, the bridge traffic and the device memory (with
    // them, whether any rank was asked to stop).
    const at::Tensor& sums = step.log_sums;  // {loss, images, load balancing}
    // The bad data skipped so far (data_skipped_counts says who counts what).
    const auto [bad_samples, bad_images] = data_skipped_counts(t, iter);
    at::Tensor balance = at::tensor({bad_samples, bad_images}, at::kDouble).to(t.comms.device);
    all_reduce_sum(t.comms.world, balance);
    balance = balance.cpu();
    const DeviceMemory memory = read_device_memory(t.comms.device);
    at::Tensor maxima = at::tensor({mb.encoder_stall_ms, mb.bridge_wait_ms, stop_requested() ? 1.0 : 0.0,
                                    static_cast<double>(mb.bridge_bytes), memory.allocated, memory.max_allocated,
                                    memory.max_reserved},
                                   at::kDouble)
                            .to(t.comms.device);
    all_reduce_max(t.comms.world, maxima);
    maxima = maxima.cpu();
    // The image count is this process's total so far; every rank has the sums.
    skipped_samples += static_cast<std::int64_t>(balance[0].item<double>());
    data_skipped = skipped_samples + static_cast<std::int64_t>(balance[1].item<double>());
    if (logs) {
      IterationMetrics m;
      m.iter = iter;
      m.consumed_samples = static_cast<std::int64_t>(iter) * t.topo.global_batch_size;
      m.lm_loss = sums[0].item<double>() / loss_tokens;
      if (const int moe_layers = t.recipe.llm.count_layers('E'); moe_layers > 0)
        m.load_balancing_loss = sums[2].item<double>() / (double(t.topo.global_batch_size) * moe_layers);
      m.images = static_cast<std::int64_t>(sums[1].item<double>());
      m.grad_norm = step.grad_norm;
      m.lr = step.lr;
      m.num_zeros = step.num_zeros;
      m.skipped = skipped;
      m.iter_time_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      m.tokens = static_cast<std::int64_t>(t.topo.global_batch_size) * t.recipe.llm.seq_length;
      // Model FLOPs of the LLM (model/llm_flops.h) per GPU that runs it.
      m.tflops_per_gpu = llm_model_flops(t.recipe.llm, t.recipe.llm.seq_length, t.topo.global_batch_size) /
                         (m.iter_time_ms / 1e3) / t.topo.llm.dims.size / 1e12;
      m.encoder_stall_ms = maxima[0].item<double>();
      m.bridge_wait_ms = maxima[1].item<double>();
      m.data_skipped = data_skipped;
      if (m.data_skipped > 0)
        std::cout << "data: " << m.data_skipped << " bad samples and images skipped so far (data.skip_bad_samples)"
                  << std::endl;
      m.bridge_bytes = static_cast<std::int64_t>(maxima[3].item<double>());  // the busiest encoder rank
      m.memory_allocated_bytes = static_cast<std::int64_t>(maxima[4].item<double>());
      m.memory_max_allocated_bytes = static_cast<std::int64_t>(maxima[5].item<double>());
      m.memory_max_reserved_bytes = static_cast<std::int64_t>(maxima[6].item<double>());
      metrics->write(m);
      if (tensorboard) add_iteration_scalars(*tensorboard, m, t.topo.global_batch_size, t.recipe.llm.num_experts > 0);
      std::cout << format_iteration_line(m, t.options.iters, t.topo.global_batch_size) << std::endl;
      // Once per start, after its first iteration (the optimizer's state then exists), as Megatron does.
      if (iter == first_iter && m.memory_max_reserved_bytes > 0)
        std::cout << format_memory_line(m) << std::endl;
    }
    // Checkpoints: every save_interval iterations, on a stop request and at
    // the end; the files are written while the next iterations run.
    const bool stop = maxima[2].item<double>() > 0;
    if (save_interval > 0) {
      auto r = t.timeline.region(regions::kCkptSave, iter);
      checkpoints.poll(t.comms.world, /*wait=*/false);
      if (iter % save_interval == 0 || stop || (iter == t.options.iters && t.recipe.train.save_at_end))
        checkpoints.begin(t.comms.world, pieces_to_save(modules), progress_after(t, iter, skipped, data_skipped),
                          config);
    }
    t.timeline.end_iteration();
    kernel_trace.end(iter);
    skip_guard.after_step(step.skipped, iter,
                          [&] { return first_nonfinite_gradient(enc_params, llm_params, t.comms.world); });
    if (stop) {
      if (logs) std::cout << "stop requested (SIGUSR1): stopping after iteration " << iter << std::endl;
      checkpoints.poll(t.comms.world, /*wait=*/true);
      return kExitStopRequested;
    }
  }
  checkpoints.poll(t.comms.world, /*wait=*/true);
  if (const LoaderStats d = t.data->stats(); d.images > 0)
    std::cout << "data: rank " << t.comms.rank << " decoded " << d.images << " images in " << d.decode_seconds
              << " s of loader-thread time: " << d.images / d.decode_seconds << " images/s per loader thread"
              << std::endl;
  return 0;
}

}  // namespace hetero
