#include <nlohmann/json.hpp>

#include "render.h"

namespace hetero::profiler {
namespace {

using json = nlohmann::ordered_json;

json categories(const CategoryMs& v) {
  json o = json::object();
  for (int c = 0; c < kNumCategories; ++c) o[category_key(category_at(c))] = v[c];
  return o;
}

json rows(const std::vector<IterationRow>& iters) {
  json a = json::array();
  for (const IterationRow& r : iters)
    a.push_back({{"iter", r.iter},
                 {"ranks", r.ranks},
                 {"complete", r.complete},
                 {"warmup", r.warmup},
                 {"step_ms", r.step_ms},
                 {"ms", categories(r.mean_ms)},
                 {"max_ms", categories(r.max_ms)}});
  return a;
}

json summary(const Summary& s) {
  json cats = json::object();
  for (int c = 0; c < kNumCategories; ++c)
    cats[category_key(category_at(c))] = {{"ms", s.mean_ms[c]}, {"pct", s.pct[c]}, {"max_ms", s.max_ms[c]}};
  return {{"iterations", s.iterations}, {"step_ms", s.step_ms}, {"categories", cats}};
}

json role(const RankRole& r) {
  return {{"rank", r.rank}, {"module", r.module}, {"replica", r.replica}, {"stage", r.stage}, {"tp_rank", r.tp_rank}};
}

json split(const SplitPrediction& p) {
  return {{"encoder_nodes", p.encoder_nodes}, {"llm_nodes", p.llm_nodes},   {"encoder_replicas", p.encoder_replicas},
          {"lanes", p.lanes},                 {"microbatches", p.microbatches}, {"encoder_ms", p.encoder_ms},
          {"llm_ms", p.llm_ms},               {"step_ms", p.step_ms},       {"encoder_stall_ms", p.encoder_stall_ms}};
}

}  // namespace

std::string render_json(const Report& r) {
  json out;
  out["source"] = r.source;
  out["warmup"] = r.warmup;
  if (r.has_traces) {
    json job = json::array();
    for (const IterationRow& row : r.job)
      job.push_back({{"iter", row.iter}, {"ranks", row.ranks}, {"complete", row.complete}, {"warmup", row.warmup},
                     {"step_ms", row.step_ms}});
    out["job"] = {{"step_ms", r.job_step_ms}, {"iterations", job}};
    json modules = json::array();
    for (const ModuleReport& m : r.modules) {
      json stages = json::array();
      for (const StageReport& s : m.stages)
        stages.push_back({{"stage", s.stage}, {"ranks", s.ranks}, {"summary", summary(s.summary)},
                          {"iterations", rows(s.iters)}});
      modules.push_back({{"module", m.module},
                         {"ranks", m.ranks},
                         {"summary", summary(m.summary)},
                         {"iterations", rows(m.iters)},
                         {"stages", stages}});
    }
    out["modules"] = modules;
    json stragglers = json::array();
    for (const Straggler& s : r.stragglers) {
      json o = role(s.role);
      o["compute_ms"] = s.compute_ms;
      o["peers"] = s.peers;
      o["peer_mean_ms"] = s.peer_mean_ms;
      o["peer_median_ms"] = s.peer_median_ms;
      o["peer_std_ms"] = s.peer_std_ms;
      o["z"] = s.z;
      o["flagged"] = s.flagged;
      stragglers.push_back(o);
    }
    out["stragglers"] = {{"z_threshold", r.z_threshold}, {"ranks", stragglers}};
  }
  if (r.critical_path) {
    const CriticalPath& p = *r.critical_path;
    json segments = json::array();
    for (const PathSegment& s : p.segments) {
      json o = role(s.role);
      o["region"] = s.region < 0 ? json(nullptr) : json(region_name(s.region));
      o["microbatch"] = s.microbatch;
      o["kind"] = s.kind;
      o["start_ms"] = s.start_ms;
      o["dur_ms"] = s.dur_ms;
      segments.push_back(o);
    }
    json totals = json::array();
    for (const PathTotal& t : p.totals) totals.push_back({{"module", t.module}, {"category", t.what}, {"ms", t.ms}});
    out["critical_path"] = {{"iter", p.iter},       {"iteration_ms", p.iteration_ms}, {"covered_ms", p.covered_ms},
                            {"hops", p.hops},       {"totals", totals},               {"segments", segments}};
  }
  if (r.metrics)
    out["metrics"] = {{"iterations", r.metrics->iterations},       {"used", r.metrics->used},
                      {"step_ms", r.metrics->step_ms},             {"encoder_stall_ms", r.metrics->encoder_stall_ms},
                      {"bridge_wait_ms", r.metrics->bridge_wait_ms}};
  if (r.suggestion) {
    const Suggestion& s = *r.suggestion;
    json splits = json::array();
    for (const SplitPrediction& p : s.splits) splits.push_back(split(p));
    out["suggest"] = {{"nodes", s.nodes},
                      {"gpus_per_node", s.gpus_per_node},
                      {"measured",
                       {{"encoder_forward_ms", s.encoder_forward_ms},
                        {"encoder_backward_ms", s.encoder_backward_ms},
                        {"llm_stage_ms", s.llm_stage_ms},
                        {"sync_ms", s.sync_ms},
                        {"step_ms", s.measured_step_ms},
                        {"encoder_stall_ms", s.measured_stall_ms}}},
                      {"model_at_measured_split", s.current ? split(*s.current) : json(nullptr)},
                      {"splits", splits},
                      {"best", s.best ? split(*s.best) : json(nullptr)},
                      {"rejected", s.rejected}};
  }
  out["notes"] = r.notes;
  return out.dump(2) + "\n";
}

}  // namespace hetero::profiler
