// The hetero training loop (design §7), top-down.
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>

#include "hf/hf_nemotron_h.h"
#include "hf/hf_radio.h"
#include "hetero/exit_codes.h"
#include "hetero/regions.h"
#include "hetero/run_dir.h"
#include "hetero/tensorboard.h"
#include "hetero/train_schedule.h"
#include "model/llm_flops.h"
#include "optim/grads.h"
#include "stop_signal.h"
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
    local += count_loss_tokens(t.data.samples(microbatch_sample_indices(t.topo, iter, dp.rank, mb), Pixels::Skip));
  at::Tensor n = at::tensor({static_cast<double>(local)}, at::kDouble).to(t.comms.device);
  all_reduce_sum(dp, n);
  return n.cpu().item<double>();
}

void write_config(const Trainer& t) {
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
  std::ofstream out(RunPaths{t.options.run_dir}.config());
  out << cfg << "\n";
}


// Who this rank is, for the trace's metadata (the profiler groups by it).
TraceRankInfo trace_rank_info(const JobTopology& t, const JobComms& c) {
  const bool runs_llm = c.llm.has_value();
  const ModuleGroups& g = runs_llm ? *c.llm : *c.encoder;
  const std::string module = !t.hetero() ? "colocated" : runs_llm ? "llm" : "encoder";
  return {c.rank, module, g.dp.rank, runs_llm ? g.pp.rank : 0, g.tp.rank};
}

std::string trace_path(const TrainerOptions& o, int rank) {
  if (!o.trace) return "";
  std::filesystem::create_directories(RunPaths{o.run_dir}.trace_dir());
  return RunPaths{o.run_dir}.rank_trace(rank);
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
  const double clip = t.recipe.train.clip_grad;
  if (clip > 0 && out.grad_norm > clip) {
    const double factor = clip / (out.grad_norm + 1e-6);
    scale_grads(enc_params, factor);
    scale_grads(llm_params, factor);
  }
  if (t.encoder_optim) t.encoder_optim->step(lr, weight_decay);
  if (t.llm_optim) t.llm_optim->step(lr, weight_decay);
  return out;
}

}  // namespace

Trainer::Trainer(const Recipe& r, const JobTopology& t, JobComms& c, TrainerOptions o)
    : recipe(r),
      topo(t),
      comms(c),
      options(std::move(o)),
      data(r),
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
  if (t.hetero()) bridge = std::make_unique<BridgeEndpoint>(p2p, routes);
}

// A run directory that already holds metrics (a job requeued before
// checkpoints exist, or a rerun into the same --out) keeps them as
// metrics.jsonl.N, the smallest unused N, so no logged iteration is lost.
static void keep_earlier_metrics(const RunPaths& paths) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(paths.metrics(), ec) || fs::file_size(paths.metrics(), ec) == 0) return;
  int n = 1;
  while (fs::exists(paths.metrics() + "." + std::to_string(n))) ++n;
  const std::string kept = paths.metrics() + "." + std::to_string(n);
  fs::rename(paths.metrics(), kept);  // throws with both paths on failure
  std::cout << "hetero-train: " << paths.metrics() << " existed; kept as " << kept << "\n";
}

int train(Trainer& t) {
  const RunPaths paths{t.options.run_dir};
  const bool logs = t.comms.rank == t.topo.logging_rank();
  if (t.comms.rank == 0) write_config(t);
  std::unique_ptr<MetricsWriter> metrics;
  if (logs) {
    keep_earlier_metrics(paths);  // a requeued job starts again: the first start's lines stay readable
    metrics = std::make_unique<MetricsWriter>(paths.metrics());
  }
  std::unique_ptr<TensorBoardWriter> tensorboard;  // --tensorboard
  if (logs && t.options.tensorboard) tensorboard = std::make_unique<TensorBoardWriter>(paths.tensorboard_dir());
  const LrSchedule schedule = make_lr_schedule(t.recipe.train);
  // Where this rank does not run a module, or the module is frozen, its list is empty.
  auto& enc_params = t.encoder_trainable;
  auto& llm_params = t.llm_trainable;
  int skipped = 0;
  if (logs) std::cout << describe_freeze(t.recipe.train) << std::endl;
  snapshot_weights(t, 0);

  for (int iter = 1; iter <= t.options.iters; ++iter) {
    const auto start = std::chrono::steady_clock::now();
    if (iter == t.options.fail_at_iter && t.comms.rank == t.options.fail_rank)
      throw std::runtime_error("injected failure at iteration " + std::to_string(iter) + " on rank " +
                               std::to_string(t.comms.rank) + " (--fail-at-iter)");

    t.timeline.begin_iteration();
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
      return clip_and_step(t, enc_params, llm_params, schedule.lr(at), schedule.weight_decay(at), log_sums);
    }();
    snapshot_weights(t, iter);
    if (step.skipped) {
      ++skipped;  // every rank saw the same norm, so every rank skipped
      std::cerr << "rank " << t.comms.rank << ": skipped the optimizer step of iteration " << iter
                << ": the gradient norm is not finite (" << step.grad_norm << ")" << std::endl;
    }

    // Logging: the sums came with the gradient norm; the stalls over all
    // ranks (with them, whether any rank was asked to stop).
    const at::Tensor& sums = step.log_sums;  // {loss, images, load balancing}
    at::Tensor stalls = at::tensor({mb.encoder_stall_ms, mb.bridge_wait_ms, stop_requested() ? 1.0 : 0.0},
                                   at::kDouble).to(t.comms.device);
    all_reduce_max(t.comms.world, stalls);
    stalls = stalls.cpu();
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
      m.encoder_stall_ms = stalls[0].item<double>();
      m.bridge_wait_ms = stalls[1].item<double>();
      metrics->write(m);
      if (tensorboard) add_iteration_scalars(*tensorboard, m, t.topo.global_batch_size, t.recipe.llm.num_experts > 0);
      std::cout << format_iteration_line(m, t.options.iters, t.topo.global_batch_size) << std::endl;
    }
    t.timeline.end_iteration();
    if (stalls[2].item<double>() > 0) {
      if (logs) std::cout << "stop requested (SIGUSR1): stopping after iteration " << iter << std::endl;
      return kExitStopRequested;
    }
  }
  return 0;
}

}  // namespace hetero
