#include "profile.h"

#include <filesystem>
#include <fstream>
#include <memory>

#include "analyze.h"
#include "hetero/errors.h"
#include "hetero/run_dir.h"
#include "json_source.h"
#include "nsys_source.h"
#include "render.h"
#include "suggest.h"

namespace fs = std::filesystem;

namespace hetero::profiler {

Report build_report(const ProfileArgs& args) {
  if (!args.run.empty() && !fs::is_directory(args.run))
    throw ConfigError("run directory " + args.run +
                      " does not exist: give the --out directory of hetero-launch (or hetero-train's run directory)");
  for (const auto& f : args.nsys)
    if (!fs::is_regular_file(f))
      throw ConfigError("--nsys " + f + ": no such file; give the .sqlite files of `nsys export --type sqlite`");
  const RunPaths paths{args.run};
  std::optional<RunConfig> config;
  if (!args.run.empty()) config = load_run_config(paths.config());
  const RunConfig* cfg = config ? &*config : nullptr;

  std::unique_ptr<RankSource> source;
  std::string fallback_note;
  if (!args.nsys.empty()) {
    source = std::make_unique<NsysSource>(args.nsys, cfg);
  } else {
    auto files = JsonTraceSource::list_rank_files(paths.trace_dir());
    if (!files.empty())
      source = std::make_unique<JsonTraceSource>(std::move(files), cfg, paths.trace_dir());
    else
      fallback_note = fs::is_directory(paths.trace_dir())
                          ? paths.trace_dir() + " holds no rank-NNNNN.json: summarising metrics.jsonl only"
                          : paths.trace_dir() + " is absent (run without traces, e.g. hetero-train --no-trace): "
                                                "summarising metrics.jsonl only";
  }

  Report report;
  Analysis analysis;
  if (source) {
    AnalysisOptions o;
    o.warmup = args.warmup;
    o.iter = args.iter;
    o.top = args.top;
    o.z_threshold = args.z_threshold;
    o.timeline = !args.html.empty();
    analysis = analyze(*source, cfg, o);
    report = analysis.report;
    if (!cfg && !args.nsys.empty() && args.run.empty())
      report.notes.push_back("no --run RUN: ranks' roles are unknown (nsys exports carry none); "
                             "give --run RUN to read them from RUN/config.yaml");
    else if (!cfg && !args.run.empty())
      report.notes.push_back(paths.config() + " is absent: producers of waits are matched without the lane map");
  } else {
    report.source = args.run;
    report.warmup = args.warmup;
    report.notes.push_back(fallback_note);
  }
  if (!args.run.empty()) {
    report.metrics = summarize_metrics(paths.metrics(), args.warmup);
    if (!source) {
      if (!report.metrics)
        throw ConfigError("run " + args.run + " has neither trace/ nor metrics.jsonl: nothing to profile; give a "
                          "directory written by hetero-train (design §8), or nsys exports with --nsys");
      if (report.metrics->used == 0)
        throw ConfigError("run " + args.run + " has no iterations after --warmup=" + std::to_string(args.warmup));
    }
  }

  if (args.suggest) {
    if (!source)
      throw ConfigError("suggest needs per-rank traces (RUN/trace/ or --nsys): per-microbatch times are not in "
                        "metrics.jsonl; rerun without hetero-train --no-trace");
    if (!cfg) throw ConfigError("suggest needs " + paths.config() + " (the run's topology)");
    const SuggestInputs in = measure_for_suggest(analysis.aggregate, analysis.analysed, *cfg);
    const int gpn = args.gpus_per_node > 0 ? args.gpus_per_node : cfg->topo.gpus_per_node;
    Suggestion s = suggest_split(in, args.nodes, gpn);
    s.measured_step_ms = report.job_step_ms;
    for (const ModuleReport& m : report.modules)
      if (m.module == "llm") s.measured_stall_ms = m.summary.mean_ms[static_cast<int>(Category::kEncoderStall)];
    report.suggestion = std::move(s);
  }
  return report;
}

int run_profile(const ProfileArgs& args, std::ostream& out) {
  const Report report = build_report(args);
  if (!args.html.empty()) {
    std::ofstream html(args.html, std::ios::trunc);
    html << render_html(report);
    html.flush();
    if (!html) throw ConfigError("cannot write " + args.html + ": check that its directory exists and is writable");
  }
  if (args.json) {
    out << render_json(report);
  } else {
    TextOptions t;
    t.per_iteration = !args.brief;
    t.path_segments = args.path_segments;
    out << render_text(report, t);
    if (!args.html.empty()) out << "\nwrote " << args.html << "\n";
  }
  return 0;
}

}  // namespace hetero::profiler
