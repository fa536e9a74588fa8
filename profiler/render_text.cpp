#include <cstdarg>
#include <cstdio>

#include "render.h"

namespace hetero::profiler {
namespace {

std::string fmt(const char* f, ...) {
  char buf[512];
  va_list args;
  va_start(args, f);
  std::vsnprintf(buf, sizeof(buf), f, args);
  va_end(args);
  return buf;
}

bool module_has(const ModuleReport& m, int c) {
  for (const IterationRow& r : m.iters)
    if (r.mean_ms[c] != 0 || r.max_ms[c] != 0) return true;
  return false;
}

void module_block(std::string& out, const ModuleReport& m) {
  out += fmt("\n%s: %d rank%s, %zu stage%s; medians over %d iteration%s\n", m.module.c_str(), m.ranks,
             m.ranks == 1 ? "" : "s", m.stages.size(), m.stages.size() == 1 ? "" : "s", m.summary.iterations,
             m.summary.iterations == 1 ? "" : "s");
  out += fmt("  %-22s %12s %9s %14s\n", "", "median ms", "% step", "slowest rank");
  out += fmt("  %-22s %12.3f\n", "step time", m.summary.step_ms);
  for (int c = 0; c < kNumCategories; ++c) {
    if (!module_has(m, c)) continue;
    out += fmt("  %-22s %12.3f %8.1f%% %14.3f\n", category_label(category_at(c)), m.summary.mean_ms[c],
               m.summary.pct[c], m.summary.max_ms[c]);
  }
  if (m.stages.size() > 1)
    for (const StageReport& s : m.stages) {
      out += fmt("  stage %d (%d rank%s):", s.stage, s.ranks, s.ranks == 1 ? "" : "s");
      for (int c = 0; c < kNumCategories; ++c)
        if (s.summary.mean_ms[c] != 0)
          out += fmt(" %s %.3f", category_label(category_at(c)), s.summary.mean_ms[c]);
      out += "\n";
    }
}

void iteration_table(std::string& out, const Report& r) {
  out += "\nper iteration (ms; each category the mean over the ranks that record it; w: warm-up, "
         "*: some ranks missing)\n";
  static const char* heads[kNumCategories] = {"compute", "enc.stall", "br.wait", "pp.wait",
                                              "grad.red", "optim",    "data",    "other"};
  out += fmt("  %6s %-9s %10s", "iter", "module", "step");
  for (const char* h : heads) out += fmt(" %9s", h);
  out += "\n";
  for (const ModuleReport& m : r.modules)
    for (const IterationRow& row : m.iters) {
      out += fmt("  %5d%c %-9s %10.3f", row.iter, row.warmup ? 'w' : (row.complete ? ' ' : '*'), m.module.c_str(),
                 row.step_ms);
      for (int c = 0; c < kNumCategories; ++c) out += fmt(" %9.3f", row.mean_ms[c]);
      out += "\n";
    }
}

void straggler_block(std::string& out, const Report& r) {
  out += fmt("\nstragglers (median compute against the ranks of the same module and stage; flagged at z >= %.2f)\n",
             r.z_threshold);
  if (r.stragglers.empty()) {
    out += "  none: no rank's compute is above its peers' mean\n";
    return;
  }
  for (const Straggler& s : r.stragglers)
    out += fmt("  %-36s compute %10.3f ms  peers %d: mean %.3f median %.3f std %.3f  z %6.2f%s\n",
               describe_role(s.role).c_str(), s.compute_ms, s.peers, s.peer_mean_ms, s.peer_median_ms, s.peer_std_ms,
               s.z, s.flagged ? "  STRAGGLER" : "");
}

void path_block(std::string& out, const CriticalPath& p, const TextOptions& o) {
  out += fmt("\ncritical path of iteration %d (%.3f ms over all ranks; %.3f ms on the path)\n", p.iter,
             p.iteration_ms, p.covered_ms);
  std::string hops;
  for (std::size_t i = 0; i < p.hops.size(); ++i) {
    for (const PathSegment& s : p.segments)
      if (s.role.rank == p.hops[i]) {
        hops += (i ? " -> " : "") + describe_role(s.role);
        break;
      }
  }
  out += "  through " + hops + "\n";
  for (const PathTotal& t : p.totals)
    out += fmt("  %-10s %-16s %10.3f ms %6.1f%%\n", t.module.c_str(), t.what.c_str(), t.ms,
               p.iteration_ms > 0 ? 100 * t.ms / p.iteration_ms : 0.0);
  const int n = static_cast<int>(p.segments.size());
  const int shown = o.path_segments < 0 ? n : std::min(n, o.path_segments);
  out += fmt("  segments (%d of %d; start ms from the iteration start):\n", shown, n);
  for (int i = 0; i < shown; ++i) {
    const PathSegment& s = p.segments[static_cast<std::size_t>(i)];
    const std::string what = s.region < 0 ? "(no event)" : region_name(s.region);
    const std::string mb = s.microbatch >= 0 ? fmt(" mb %d", s.microbatch) : "";
    out += fmt("    %10.3f %10.3f ms  %-32s %s%s  %s\n", s.start_ms, s.dur_ms, describe_role(s.role).c_str(),
               what.c_str(), mb.c_str(), s.kind.c_str());
  }
  if (shown < n) out += fmt("    ... %d more (--path-segments -1 lists all)\n", n - shown);
}

void suggest_block(std::string& out, const Suggestion& s) {
  out += fmt("\nsuggested split for %d nodes of %d GPUs\n", s.nodes, s.gpus_per_node);
  out += fmt("  measured per microbatch: encoder forward %.3f ms, backward %.3f ms (per replica); "
             "LLM stage fwd+bwd %.3f ms; per iteration grad reduce + optimizer %.3f ms\n",
             s.encoder_forward_ms, s.encoder_backward_ms, s.llm_stage_ms, s.sync_ms);
  if (s.current)
    out += fmt("  measured split (%d encoder replicas, %d lanes): step %.3f ms, encoder stall %.3f ms; "
               "model: step %.3f ms, stall %.3f ms\n",
               s.current->encoder_replicas, s.current->lanes, s.measured_step_ms, s.measured_stall_ms,
               s.current->step_ms, s.current->encoder_stall_ms);
  out += fmt("  %9s %9s %9s %6s %5s %12s %12s %12s %12s\n", "enc nodes", "llm nodes", "replicas", "lanes", "mb",
             "encoder ms", "llm ms", "stall ms", "step ms");
  for (const SplitPrediction& p : s.splits) {
    const bool best = s.best && p.encoder_nodes == s.best->encoder_nodes;
    out += fmt("  %9d %9d %9d %6d %5d %12.3f %12.3f %12.3f %12.3f%s\n", p.encoder_nodes, p.llm_nodes,
               p.encoder_replicas, p.lanes, p.microbatches, p.encoder_ms, p.llm_ms, p.encoder_stall_ms, p.step_ms,
               best ? "  <- best" : "");
  }
  for (const std::string& why : s.rejected) out += "  not valid: " + why + "\n";
  if (s.best)
    out += fmt("  suggestion: %d encoder node%s + %d LLM node%s: predicted step %.3f ms, encoder stall %.3f ms\n",
               s.best->encoder_nodes, s.best->encoder_nodes == 1 ? "" : "s", s.best->llm_nodes,
               s.best->llm_nodes == 1 ? "" : "s", s.best->step_ms, s.best->encoder_stall_ms);
  else
    out += fmt("  no valid split of %d nodes of %d GPUs: try another --nodes, or --gpus-per-node G to split "
               "nodes of G GPUs (G=1 splits single GPUs)\n",
               s.nodes, s.gpus_per_node);
}

}  // namespace

std::string describe_role(const RankRole& r) {
  std::string s = "rank " + std::to_string(r.rank) + " " + r.module;
  if (r.module == "unknown") return s;
  s += (r.module == "encoder" ? " replica " : " lane ") + std::to_string(r.replica);
  if (r.module != "encoder") s += " stage " + std::to_string(r.stage);
  if (r.tp_rank) s += " tp " + std::to_string(r.tp_rank);
  return s;
}

std::string render_text(const Report& r, const TextOptions& o) {
  std::string out = "hetero-profile: " + r.source + "\n";
  if (r.has_traces) {
    int first = r.job.empty() ? 0 : r.job.front().iter, last = r.job.empty() ? 0 : r.job.back().iter;
    int used = 0;
    for (const IterationRow& row : r.job) used += row.complete && !row.warmup;
    out += fmt("  iterations %d..%d, warm-up %d; medians over %d complete iteration%s after it\n", first, last,
               r.warmup, used, used == 1 ? "" : "s");
    out += fmt("  step time (all ranks, median): %.3f ms\n", r.job_step_ms);
    for (const ModuleReport& m : r.modules) module_block(out, m);
    if (o.per_iteration) iteration_table(out, r);
    straggler_block(out, r);
    if (r.critical_path) path_block(out, *r.critical_path, o);
  }
  if (r.metrics) {
    const MetricsSummary& m = *r.metrics;
    out += fmt("\nmetrics.jsonl (as logged by the trainer): %d iterations (%d after warm-up)\n", m.iterations, m.used);
    out += fmt("  step time        %10.3f ms (median)\n", m.step_ms);
    out += fmt("  encoder stall    %10.3f ms  %5.1f%%\n", m.encoder_stall_ms,
               m.step_ms > 0 ? 100 * m.encoder_stall_ms / m.step_ms : 0.0);
    out += fmt("  bridge wait      %10.3f ms  %5.1f%%\n", m.bridge_wait_ms,
               m.step_ms > 0 ? 100 * m.bridge_wait_ms / m.step_ms : 0.0);
  }
  if (r.suggestion) suggest_block(out, *r.suggestion);
  if (!r.notes.empty()) {
    out += "\nnotes:\n";
    for (const std::string& n : r.notes) out += "  - " + n + "\n";
  }
  return out;
}

}  // namespace hetero::profiler
