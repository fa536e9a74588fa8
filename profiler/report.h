// The profile of a run, as every output (text, JSON, HTML) renders it.
// Times are milliseconds; iteration-relative times count from the
// iteration's earliest event.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "categories.h"
#include "source.h"

namespace hetero::profiler {

using CategoryMs = std::array<double, kNumCategories>;

// One iteration of a module (or of one of its stages).
struct IterationRow {
  int iter = 0;
  int ranks = 0;          // ranks with events in it
  bool complete = false;  // every rank of the module has events in it
  bool warmup = false;    // iter <= --warmup
  double step_ms = 0;     // latest event end - earliest event start over the ranks
  CategoryMs mean_ms{};   // per category: mean over the ranks that recorded it
  CategoryMs max_ms{};    // per category: the largest rank's value
};

// Medians over the iterations after warm-up that are complete.
struct Summary {
  int iterations = 0;
  double step_ms = 0;
  CategoryMs mean_ms{}, max_ms{};
  CategoryMs pct{};  // 100 * median mean / median step
};

struct StageReport {
  int stage = 0;
  int ranks = 0;
  std::vector<IterationRow> iters;
  Summary summary;
};

struct ModuleReport {
  std::string module;
  int ranks = 0;
  std::vector<IterationRow> iters;
  Summary summary;
  std::vector<StageReport> stages;  // one per pipeline stage
};

struct Straggler {
  RankRole role;
  double compute_ms = 0;  // median over the analysed iterations
  int peers = 0;          // ranks of the same module and stage, itself included
  double peer_mean_ms = 0, peer_std_ms = 0, peer_median_ms = 0;
  double z = 0;           // (compute - peer mean) / peer std; 0 when std is 0
  bool flagged = false;   // z >= --z-threshold
};

// A stretch of the critical path on one rank.
struct PathSegment {
  RankRole role;
  int region = -1;      // categories.h Region; -1: time with no event on the rank
  int microbatch = -1;
  std::string kind;     // "work", "wait" (a wait nobody on the path explains), "transfer"
                        // (a wait's tail after its producer finished), "collective", "gap"
  double start_ms = 0;  // from the iteration start
  double dur_ms = 0;
};

struct PathTotal {
  std::string module;
  std::string what;  // a category key, or "gap"
  double ms = 0;
};

struct CriticalPath {
  int iter = 0;
  double iteration_ms = 0;  // the whole iteration over all ranks
  double covered_ms = 0;    // sum of segment durations
  std::vector<PathSegment> segments;  // in time order: encoder -> LLM stages -> optimizer
  std::vector<PathTotal> totals;      // per module and category
  std::vector<int> hops;              // ranks in path order, consecutive duplicates merged
};

// The per-rank timeline of one iteration (HTML only).
struct TimelineData {
  int iter = 0;
  std::int64_t t0_ns = 0;
  std::vector<RankRole> ranks;
  std::vector<Event> events;
};

// From metrics.jsonl: what the trainer logged (after warm-up).
struct MetricsSummary {
  int iterations = 0, used = 0;
  double step_ms = 0, encoder_stall_ms = 0, bridge_wait_ms = 0;
};

struct SplitPrediction {
  int encoder_nodes = 0, llm_nodes = 0;
  int encoder_replicas = 0, lanes = 0, microbatches = 0;
  double encoder_ms = 0;  // an encoder replica's busy time per iteration
  double llm_ms = 0;      // one lane's 1F1B pipeline per iteration
  double step_ms = 0, encoder_stall_ms = 0;
};

struct Suggestion {
  int nodes = 0, gpus_per_node = 0;
  // Measured, per microbatch: an encoder replica's forward and backward, the
  // slowest LLM stage's forward+backward; and per iteration the gradient
  // reduction + optimizer of the LLM ranks.
  double encoder_forward_ms = 0, encoder_backward_ms = 0, llm_stage_ms = 0, sync_ms = 0;
  double measured_step_ms = 0, measured_stall_ms = 0;
  std::optional<SplitPrediction> current;  // the model at the measured split, for calibration
  std::vector<SplitPrediction> splits;     // every valid split at --nodes
  std::optional<SplitPrediction> best;
  std::vector<std::string> rejected;  // why other splits are not valid
};

struct Report {
  std::string source;
  std::vector<std::string> notes;
  int warmup = 0;
  bool has_traces = false;
  std::vector<ModuleReport> modules;
  std::vector<IterationRow> job;  // all ranks together (step time only is used)
  double job_step_ms = 0;         // median over analysed iterations
  double z_threshold = 0;
  std::vector<Straggler> stragglers;  // the top ranks by z, slowest first
  std::optional<CriticalPath> critical_path;
  std::optional<TimelineData> timeline;
  std::optional<MetricsSummary> metrics;
  std::optional<Suggestion> suggestion;
};

}  // namespace hetero::profiler
