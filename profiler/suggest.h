// `hetero-profile suggest`: the encoder/LLM node split for N nodes, from the
// measured per-microbatch times of a hetero run (the model: predict_split).
#pragma once

#include <map>
#include <set>
#include <string>

#include "aggregate.h"
#include "report.h"
#include "run_config.h"

namespace hetero::profiler {

// What the model needs, measured from the run.
struct SuggestInputs {
  double encoder_forward_ms = 0;   // an encoder replica, per microbatch
  double encoder_backward_ms = 0;  // an encoder replica, per microbatch
  double llm_stage_ms = 0;         // forward + backward of one microbatch on the slowest LLM stage
  double sync_ms = 0;              // grad/reduce + optim/step of an LLM rank, per iteration
  int encoder_replicas = 0, lanes = 0, microbatches = 0, llm_pp = 1;
  int encoder_replica_ranks = 1, llm_replica_ranks = 1;  // tp*cp*pp of each module
};

// Medians over the analysed iterations of the measured times; throws
// ConfigError when the run is not hetero or lacks encoder or LLM events.
SuggestInputs measure_for_suggest(const Aggregate& agg, const std::map<std::string, std::set<int>>& analysed,
                                  const RunConfig& config);

// The model at `encoder_replicas` replicas and `lanes` lanes, for the same
// global batch: m = microbatches per lane = measured microbatches x lanes /
// lanes'. The encoder's work per iteration is fixed, so an encoder replica's
// forward and backward per microbatch, f and b, scale by
// (measured replicas x measured m) / (replicas x m). With l the slowest LLM
// stage's forward+backward per microbatch and pp its stages:
//   LLM  = (m + pp - 1) l                  one lane's 1F1B pipeline
//   step = max(f + LLM + b,                the LLM waits only for the first forward
//              m (f + b) + pp l)           or the encoder sets the pace
//          + sync                          grad reduce + optimizer
//   encoder stall = step - sync - b - LLM
// Data waits and sends are left out, so the step is a lower bound; the report
// shows the model at the measured split beside the measured step.
SplitPrediction predict_split(const SuggestInputs& in, int encoder_replicas, int lanes);

// Every whole-node split of `nodes` nodes of `gpus_per_node` GPUs; the best
// is the one with the least predicted step time (ties: less encoder stall,
// then more LLM nodes).
Suggestion suggest_split(const SuggestInputs& in, int nodes, int gpus_per_node);

}  // namespace hetero::profiler
