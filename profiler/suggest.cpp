#include "suggest.h"

#include <algorithm>
#include <vector>

#include "hetero/errors.h"
#include "stats.h"

namespace hetero::profiler {

SuggestInputs measure_for_suggest(const Aggregate& agg, const std::map<std::string, std::set<int>>& analysed,
                                  const RunConfig& config) {
  if (!config.hetero())
    throw ConfigError("suggest needs a hetero run (encoder and LLM on separate ranks); " + config.path +
                      " says mode " + config.topo.mode);
  SuggestInputs in;
  const auto& enc = config.topo.encoder.dims;
  const auto& llm = config.topo.llm.dims;
  in.encoder_replicas = enc.dp();
  in.lanes = llm.dp();
  in.microbatches = config.num_microbatches;
  in.llm_pp = llm.pp;
  in.encoder_replica_ranks = enc.tp * enc.cp * enc.pp;
  in.llm_replica_ranks = llm.tp * llm.cp * llm.pp;
  if (in.microbatches < 1) throw ConfigError(config.path + ": topology.num_microbatches must be at least 1");
  const double m = in.microbatches;

  auto iters_of = [&](const std::string& module) {
    const auto it = analysed.find(module);
    if (it == analysed.end() || it->second.empty())
      throw ConfigError("suggest: the traces have no analysed iteration of the " + module + " module");
    return it->second;
  };
  const auto enc_iters = iters_of("encoder");
  const auto llm_iters = iters_of("llm");
  const auto enc_groups = agg.module_iters("encoder");
  std::vector<double> fwd, bwd, stage, sync;
  for (int iter : enc_iters) {
    const GroupIter& g = enc_groups.at(iter);
    fwd.push_back(g.region_mean(kEncoderForward) / m);
    bwd.push_back(g.region_mean(kEncoderBackward) / m);
  }
  const auto llm_groups = agg.module_iters("llm");
  for (int iter : llm_iters) {
    double slowest = 0;
    for (const auto& [key, iters] : agg.groups) {
      if (key.module != "llm") continue;
      const auto it = iters.find(iter);
      if (it == iters.end() || it->second.ranks == 0) continue;
      const GroupIter& g = it->second;
      slowest = std::max(slowest, static_cast<double>(g.region_sum[kLlmForward] + g.region_sum[kLlmBackward]) /
                                      g.ranks / m);
    }
    stage.push_back(slowest);
    const GroupIter& g = llm_groups.at(iter);
    sync.push_back(static_cast<double>(g.region_sum[kGradReduce] + g.region_sum[kOptimStep]) / g.ranks);
  }
  in.encoder_forward_ms = ns_to_ms(median(fwd));
  in.encoder_backward_ms = ns_to_ms(median(bwd));
  in.llm_stage_ms = ns_to_ms(median(stage));
  in.sync_ms = ns_to_ms(median(sync));
  if (in.encoder_forward_ms + in.encoder_backward_ms <= 0)
    throw ConfigError("suggest: the encoder ranks recorded no encoder/forward or encoder/backward time");
  if (in.llm_stage_ms <= 0) throw ConfigError("suggest: the LLM ranks recorded no llm/forward or llm/backward time");
  return in;
}

SplitPrediction predict_split(const SuggestInputs& in, int encoder_replicas, int lanes) {
  SplitPrediction p;
  p.encoder_replicas = encoder_replicas;
  p.lanes = lanes;
  p.microbatches = in.microbatches * in.lanes / lanes;
  const double mb = p.microbatches;
  // The encoder's work per iteration is fixed (the same images); it spreads
  // over the replicas and the microbatches.
  const double scale = static_cast<double>(in.encoder_replicas) * in.microbatches / (encoder_replicas * mb);
  const double fe = in.encoder_forward_ms * scale, be = in.encoder_backward_ms * scale;
  const double l = in.llm_stage_ms;
  p.encoder_ms = mb * (fe + be);
  p.llm_ms = (mb + in.llm_pp - 1) * l;
  const double llm_bound = fe + p.llm_ms + be;           // the LLM never waits after the first microbatch
  const double encoder_bound = p.encoder_ms + in.llm_pp * l;  // the last microbatch crosses the pipeline after the encoder
  const double core = std::max(llm_bound, encoder_bound);
  p.step_ms = core + in.sync_ms;
  p.encoder_stall_ms = core - be - p.llm_ms;
  return p;
}

Suggestion suggest_split(const SuggestInputs& in, int nodes, int gpus_per_node) {
  if (nodes < 2) throw ConfigError("--nodes=" + std::to_string(nodes) + ": a hetero split needs at least 2 nodes");
  if (gpus_per_node < 1)
    throw ConfigError("GPUs per node unknown: the run's config.yaml has no scale.gpus_per_node; pass --gpus-per-node");
  Suggestion s;
  s.nodes = nodes;
  s.gpus_per_node = gpus_per_node;
  s.encoder_forward_ms = in.encoder_forward_ms;
  s.encoder_backward_ms = in.encoder_backward_ms;
  s.llm_stage_ms = in.llm_stage_ms;
  s.sync_ms = in.sync_ms;
  s.current = predict_split(in, in.encoder_replicas, in.lanes);
  const int total_microbatches = in.microbatches * in.lanes;
  for (int en = 1; en < nodes; ++en) {
    const int enc_ranks = en * gpus_per_node, llm_ranks = (nodes - en) * gpus_per_node;
    const std::string tag = std::to_string(en) + "+" + std::to_string(nodes - en) + " nodes: ";
    if (enc_ranks % in.encoder_replica_ranks) {
      s.rejected.push_back(tag + "encoder ranks " + std::to_string(enc_ranks) + " are not a multiple of tp*cp*pp=" +
                           std::to_string(in.encoder_replica_ranks));
      continue;
    }
    if (llm_ranks % in.llm_replica_ranks) {
      s.rejected.push_back(tag + "LLM ranks " + std::to_string(llm_ranks) + " are not a multiple of tp*cp*pp=" +
                           std::to_string(in.llm_replica_ranks));
      continue;
    }
    const int d = enc_ranks / in.encoder_replica_ranks, lanes = llm_ranks / in.llm_replica_ranks;
    if (total_microbatches % lanes) {
      s.rejected.push_back(tag + std::to_string(lanes) + " lanes do not divide the global batch's " +
                           std::to_string(total_microbatches) + " microbatches");
      continue;
    }
    if (d % lanes && lanes % d) {
      s.rejected.push_back(tag + std::to_string(d) + " encoder replicas and " + std::to_string(lanes) +
                           " lanes: one must divide the other");
      continue;
    }
    SplitPrediction p = predict_split(in, d, lanes);
    p.encoder_nodes = en;
    p.llm_nodes = nodes - en;
    s.splits.push_back(p);
  }
  for (const SplitPrediction& p : s.splits) {
    if (!s.best) {
      s.best = p;
      continue;
    }
    const SplitPrediction& b = *s.best;
    const double tol = 1e-9 * std::max(1.0, b.step_ms);
    if (p.step_ms < b.step_ms - tol ||
        (p.step_ms <= b.step_ms + tol && p.encoder_stall_ms < b.encoder_stall_ms - tol))
      s.best = p;
  }
  return s;
}

}  // namespace hetero::profiler
