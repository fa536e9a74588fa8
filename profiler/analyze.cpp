#include "analyze.h"

#include <algorithm>
#include <filesystem>

#include "critical_path.h"
#include "hetero/errors.h"
#include "hetero/run_dir.h"
#include "stats.h"
#include "stragglers.h"

namespace hetero::profiler {
namespace {

IterationRow make_row(int iter, const GroupIter& g, int group_ranks, int warmup) {
  IterationRow row;
  row.iter = iter;
  row.ranks = g.ranks;
  row.complete = g.ranks == group_ranks;
  row.warmup = iter <= warmup;
  row.step_ms = ns_to_ms(static_cast<double>(g.step()));
  for (int c = 0; c < kNumCategories; ++c) {
    row.mean_ms[c] = ns_to_ms(g.category_mean(category_at(c)));
    row.max_ms[c] = ns_to_ms(static_cast<double>(g.category_max[c]));
  }
  return row;
}

bool analysed(const IterationRow& r) { return r.complete && !r.warmup; }

Summary summarize(const std::vector<IterationRow>& rows) {
  Summary s;
  std::vector<double> step;
  std::array<std::vector<double>, kNumCategories> mean, max;
  for (const IterationRow& r : rows) {
    if (!analysed(r)) continue;
    step.push_back(r.step_ms);
    for (int c = 0; c < kNumCategories; ++c) {
      mean[c].push_back(r.mean_ms[c]);
      max[c].push_back(r.max_ms[c]);
    }
  }
  s.iterations = static_cast<int>(step.size());
  s.step_ms = median(step);
  for (int c = 0; c < kNumCategories; ++c) {
    s.mean_ms[c] = median(mean[c]);
    s.max_ms[c] = median(max[c]);
    s.pct[c] = s.step_ms > 0 ? 100.0 * s.mean_ms[c] / s.step_ms : 0.0;
  }
  return s;
}

std::string number_list(const std::vector<int>& iters) {  // iterations or ranks, the first 8
  std::string out;
  for (std::size_t i = 0; i < iters.size() && i < 8; ++i) out += (i ? ", " : "") + std::to_string(iters[i]);
  if (iters.size() > 8) out += ", ... (" + std::to_string(iters.size()) + " in all)";
  return out;
}

class EventList : public RankVisitor {
 public:
  void on_event(const Event& e) override { events.push_back(e); }
  std::vector<Event> events;
};

}  // namespace

Analysis analyze(RankSource& source, const RunConfig* config, const AnalysisOptions& options) {
  Analysis a;
  Report& report = a.report;
  report.source = source.describe();
  report.warmup = options.warmup;
  report.z_threshold = options.z_threshold;
  report.has_traces = true;

  // Pass 1: every rank, one at a time.
  std::int64_t events = 0, unknown_regions = 0, bad_lines = 0, no_iter = 0;
  std::vector<int> unclosed, unknown_roles, duplicates, empty;
  for (std::size_t i = 0; i < source.size(); ++i) {
    RankCollector collector;
    const RankReadInfo info = source.read(i, collector, std::nullopt);
    unknown_regions += info.unknown_regions;
    bad_lines += info.bad_lines;
    no_iter += info.no_iter;
    if (a.roles.count(info.role.rank)) {
      duplicates.push_back(info.role.rank);
      continue;
    }
    if (collector.iters.empty()) {  // a rank without region events says nothing about its module
      empty.push_back(info.role.rank);
      continue;
    }
    a.roles[info.role.rank] = info.role;
    a.aggregate.add_rank(info.role, collector.iters);
    events += info.events;
    if (!info.closed) unclosed.push_back(info.role.rank);
    if (!info.role.known()) unknown_roles.push_back(info.role.rank);
  }
  if (events == 0) {
    std::string names;
    for (int r = 0; r < kNumRegions; ++r) names += (r ? ", " : "") + std::string(region_name(r));
    throw ConfigError(report.source + " holds no design §8 region events (" + std::to_string(source.size()) +
                      " rank files read, " + std::to_string(bad_lines) + " lines not events): expected complete "
                      "events named " + names + " with args.iter, as hetero-train writes them");
  }
  if (!duplicates.empty())
    throw ConfigError("two traces claim rank(s) " + number_list(duplicates) + ": give one trace per rank");
  if (!empty.empty())
    report.notes.push_back("rank(s) " + number_list(empty) + " have no region events and are left out");
  if (unknown_regions)
    report.notes.push_back(std::to_string(unknown_regions) + " events with names outside design §8 were ignored");
  if (no_iter) report.notes.push_back(std::to_string(no_iter) + " events or ranges without an iteration were ignored");
  if (bad_lines)
    report.notes.push_back(std::to_string(bad_lines) + " trace lines were not one event (a crashed rank's torn last line?)");
  if (!unclosed.empty())
    report.notes.push_back("trace of rank(s) " + number_list(unclosed) +
                           " not closed by the trainer: the run crashed or is still running");
  if (!unknown_roles.empty())
    report.notes.push_back("rank(s) " + number_list(unknown_roles) +
                           " have no role (no hetero_rank metadata; pass --run RUN for its config.yaml): module 'unknown'");

  // Per module and per stage, per iteration.
  for (const std::string& module : a.aggregate.modules()) {
    ModuleReport m;
    m.module = module;
    m.ranks = a.aggregate.module_ranks(module);
    std::vector<int> incomplete;
    for (const auto& [iter, g] : a.aggregate.module_iters(module)) {
      m.iters.push_back(make_row(iter, g, m.ranks, options.warmup));
      if (!m.iters.back().complete) incomplete.push_back(iter);
      if (analysed(m.iters.back())) a.analysed[module].insert(iter);
    }
    m.summary = summarize(m.iters);
    if (!incomplete.empty())
      report.notes.push_back(module + ": iteration(s) " + number_list(incomplete) + " lack events of some of its " +
                             std::to_string(m.ranks) + " ranks and are left out of the medians");
    for (const auto& [key, iters] : a.aggregate.groups) {
      if (key.module != module) continue;
      StageReport s;
      s.stage = key.stage;
      s.ranks = a.aggregate.group_ranks.at(key);
      for (const auto& [iter, g] : iters) {
        IterationRow row = make_row(iter, g, s.ranks, options.warmup);
        // A stage's iteration counts where its module's does.
        row.complete = a.analysed[module].count(iter) || (row.complete && row.warmup);
        s.iters.push_back(row);
      }
      s.summary = summarize(s.iters);
      m.stages.push_back(std::move(s));
    }
    report.modules.push_back(std::move(m));
  }
  // The whole job: an iteration counts when every module's does.
  const int total_ranks = static_cast<int>(a.roles.size());
  std::vector<std::pair<double, int>> job_steps;
  for (const auto& [iter, g] : a.aggregate.job) {
    IterationRow row = make_row(iter, g, total_ranks, options.warmup);
    report.job.push_back(row);
    if (analysed(row)) job_steps.emplace_back(row.step_ms, iter);
  }
  if (job_steps.empty()) {
    const auto& job = a.aggregate.job;
    const std::string range = job.empty() ? "none" : std::to_string(job.begin()->first) + ".." +
                                                         std::to_string(job.rbegin()->first);
    throw ConfigError("no complete iteration after --warmup=" + std::to_string(options.warmup) +
                      " in the traces (iterations " + range + "); try --warmup 0");
  }
  report.job_step_ms = summarize(report.job).step_ms;

  report.stragglers = find_stragglers(a.aggregate.ranks, a.analysed, options.top, options.z_threshold);

  // The iteration to show: asked for, else the analysed one with the median
  // step time (the lower middle one).
  int iter;
  if (options.iter) {
    iter = *options.iter;
    if (!a.aggregate.job.count(iter))
      throw ConfigError("--iter=" + std::to_string(iter) + ": the traces have no events of that iteration (" +
                        std::to_string(a.aggregate.job.begin()->first) + ".." +
                        std::to_string(a.aggregate.job.rbegin()->first) + ")");
  } else {
    std::sort(job_steps.begin(), job_steps.end());
    iter = job_steps[(job_steps.size() - 1) / 2].second;
  }
  // Pass 2: that iteration's events only.
  EventList list;
  for (std::size_t i = 0; i < source.size(); ++i) source.read(i, list, iter);
  report.critical_path = critical_path(iter, list.events, a.roles, config);
  if (options.timeline) {
    TimelineData t;
    t.iter = iter;
    t.t0_ns = std::numeric_limits<std::int64_t>::max();
    for (const Event& e : list.events) t.t0_ns = std::min(t.t0_ns, e.start_ns);
    for (const auto& [rank, role] : a.roles) t.ranks.push_back(role);
    t.events = std::move(list.events);
    report.timeline = std::move(t);
  }
  return a;
}

std::optional<MetricsSummary> summarize_metrics(const std::string& path, int warmup) {
  if (!std::filesystem::exists(path)) return std::nullopt;
  const auto metrics = read_metrics(path);
  MetricsSummary s;
  s.iterations = static_cast<int>(metrics.size());
  std::vector<double> step, stall, wait;
  for (const auto& m : metrics)
    if (m.iter > warmup) {
      step.push_back(m.iter_time_ms);
      stall.push_back(m.encoder_stall_ms);
      wait.push_back(m.bridge_wait_ms);
    }
  s.used = static_cast<int>(step.size());
  s.step_ms = median(step);
  s.encoder_stall_ms = median(stall);
  s.bridge_wait_ms = median(wait);
  return s;
}

}  // namespace hetero::profiler
