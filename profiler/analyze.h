// The profile of a run: reads every rank's events once to aggregate them,
// then the events of one chosen iteration again for its critical path and
// timeline.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>

#include "aggregate.h"
#include "report.h"
#include "run_config.h"
#include "source.h"

namespace hetero::profiler {

struct AnalysisOptions {
  int warmup = 1;               // iterations <= warmup are left out of the medians
  std::optional<int> iter;      // the iteration of the critical path and timeline
  int top = 5;                  // stragglers listed
  double z_threshold = 2.0;     // z at which a rank is flagged as a straggler
  bool timeline = false;        // keep the chosen iteration's events (for --html)
};

struct Analysis {
  Report report;
  Aggregate aggregate;
  std::map<std::string, std::set<int>> analysed;  // per module: iterations in the medians
  std::map<int, RankRole> roles;
};

// Throws ConfigError when the source has no region events, or no complete
// iteration after warm-up.
Analysis analyze(RankSource& source, const RunConfig* config, const AnalysisOptions& options);

// metrics.jsonl's medians after warm-up; nullopt if the file does not exist.
std::optional<MetricsSummary> summarize_metrics(const std::string& path, int warmup);

}  // namespace hetero::profiler
