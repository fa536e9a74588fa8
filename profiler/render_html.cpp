// One self-contained page: summary tables, the per-rank timeline of one
// iteration (critical path outlined) and a stacked chart of the stalls and
// waits over iterations. Data are inlined as JSON; inline JS draws SVG.
#include <cstdio>
#include <map>

#include <nlohmann/json.hpp>

#include "render.h"

namespace hetero::profiler {
namespace {

const char* kColors[kNumCategories] = {"#4c78a8", "#e45756", "#f58518", "#eeca3b",
                                       "#54a24b", "#b279a2", "#9d755d", "#bab0ac"};

std::string esc(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string num(double v, int digits = 3) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

// JSON that may sit inside <script>: no "</" sequences.
std::string script_safe(std::string s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '<' && i + 1 < s.size() && s[i + 1] == '/') {
      out += "<\\/";
      ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string data_json(const Report& r) {
  std::string d = "{";
  nlohmann::json cats = nlohmann::json::array(), labels = nlohmann::json::array(), colors = nlohmann::json::array();
  for (int c = 0; c < kNumCategories; ++c) {
    cats.push_back(category_key(category_at(c)));
    labels.push_back(category_label(category_at(c)));
    colors.push_back(kColors[c]);
  }
  nlohmann::json regions = nlohmann::json::array(), region_cat = nlohmann::json::array();
  for (int g = 0; g < kNumRegions; ++g) {
    regions.push_back(region_name(g));
    region_cat.push_back(static_cast<int>(category_of(g)));
  }
  d += "\"categories\":" + cats.dump() + ",\"labels\":" + labels.dump() + ",\"colors\":" + colors.dump() +
       ",\"regions\":" + regions.dump() + ",\"region_category\":" + region_cat.dump();
  if (r.timeline) {
    const TimelineData& t = *r.timeline;
    std::map<int, int> row_of;
    nlohmann::json ranks = nlohmann::json::array();
    for (const RankRole& role : t.ranks) {
      row_of[role.rank] = static_cast<int>(ranks.size());
      ranks.push_back(describe_role(role));
    }
    d += ",\"timeline\":{\"iter\":" + std::to_string(t.iter) + ",\"ranks\":" + ranks.dump() + ",\"events\":[";
    bool first = true;
    for (const Event& e : t.events) {
      if (!first) d += ",";
      first = false;
      d += "[" + std::to_string(row_of[e.rank]) + "," + std::to_string(e.region) + "," + std::to_string(e.microbatch) +
           "," + num((e.start_ns - t.t0_ns) / 1e6) + "," + num((e.end_ns - e.start_ns) / 1e6) + "]";
    }
    d += "],\"path\":[";
    first = true;
    if (r.critical_path)
      for (const PathSegment& s : r.critical_path->segments) {
        if (!first) d += ",";
        first = false;
        d += "[" + std::to_string(row_of.count(s.role.rank) ? row_of[s.role.rank] : 0) + "," + num(s.start_ms) + "," +
             num(s.dur_ms) + "," + nlohmann::json(s.kind).dump() + "]";
      }
    d += "]}";
  }
  d += ",\"modules\":[";
  for (std::size_t i = 0; i < r.modules.size(); ++i) {
    const ModuleReport& m = r.modules[i];
    d += (i ? "," : "") + std::string("{\"module\":") + nlohmann::json(m.module).dump() + ",\"iters\":[";
    for (std::size_t j = 0; j < m.iters.size(); ++j) {
      const IterationRow& row = m.iters[j];
      d += (j ? "," : "") + std::string("[") + std::to_string(row.iter) + "," + num(row.step_ms) + ",[";
      for (int c = 0; c < kNumCategories; ++c) d += (c ? "," : "") + num(row.mean_ms[c]);
      d += "]," + std::string(row.complete && !row.warmup ? "1" : "0") + "]";
    }
    d += "]}";
  }
  d += "]}";
  return script_safe(d);
}

const char* kStyle = R"(
body{font:14px/1.4 system-ui,sans-serif;margin:20px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0}td,th{padding:2px 10px;border-bottom:1px solid #ddd;text-align:right}
td:first-child,th:first-child{text-align:left}.note{color:#666}
.legend span{display:inline-block;margin-right:14px}.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}
svg text{font:11px system-ui,sans-serif}
)";

const char* kScript = R"(
const D = JSON.parse(document.getElementById('data').textContent);
const NS = 'http://www.w3.org/2000/svg';
function el(tag, attrs, parent) {
  const e = document.createElementNS(NS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}
function tip(e, text) { el('title', {}, e).textContent = text; }
function legend(div, cats) {
  div.className = 'legend';
  for (const c of cats) div.innerHTML += '<span><i style="background:' + D.colors[c] + '"></i>' + D.labels[c] + '</span>';
}
function niceStep(span, n) {
  const raw = span / n, p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}
function drawTimeline() {
  const T = D.timeline, host = document.getElementById('timeline');
  if (!T) { host.textContent = 'no timeline'; return; }
  let span = 0;
  for (const e of T.events) span = Math.max(span, e[3] + e[4]);
  const n = T.ranks.length, label = 230, W = 1000, rowH = Math.max(2, Math.min(16, Math.floor(1400 / Math.max(1, n))));
  const top = 22, H = top + n * rowH + 10, x = t => label + (span > 0 ? t / span * W : 0);
  const svg = el('svg', {width: label + W + 20, height: H}, host);
  const step = niceStep(span || 1, 10);
  for (let t = 0; t <= span + 1e-9; t += step) {
    el('line', {x1: x(t), x2: x(t), y1: top - 4, y2: H - 10, stroke: '#eee'}, svg);
    el('text', {x: x(t), y: 12, 'text-anchor': 'middle'}, svg).textContent = t.toFixed(step < 1 ? 2 : 0) + ' ms';
  }
  if (rowH >= 9) T.ranks.forEach((r, i) => { el('text', {x: 4, y: top + i * rowH + rowH - 3}, svg).textContent = r; });
  for (const e of T.events) {
    const c = D.region_category[e[1]];
    const r = el('rect', {x: x(e[3]), y: top + e[0] * rowH, width: Math.max(0.5, x(e[3] + e[4]) - x(e[3])),
                          height: Math.max(1, rowH - 1), fill: D.colors[c]}, svg);
    tip(r, T.ranks[e[0]] + '\n' + D.regions[e[1]] + (e[2] >= 0 ? ' mb ' + e[2] : '') + '\n' + e[4].toFixed(3) +
           ' ms at ' + e[3].toFixed(3) + ' ms');
  }
  for (const p of T.path) {
    const r = el('rect', {x: x(p[1]), y: top + p[0] * rowH - 1, width: Math.max(1, x(p[1] + p[2]) - x(p[1])),
                          height: rowH + 1, fill: 'none', stroke: '#000', 'stroke-width': 1.5}, svg);
    tip(r, 'critical path: ' + T.ranks[p[0]] + ' ' + p[3] + ' ' + p[2].toFixed(3) + ' ms');
  }
  legend(document.getElementById('timeline-legend'), D.categories.map((_, i) => i));
}
function drawStalls() {
  const host = document.getElementById('stalls'), cats = [1, 2, 3, 6, 4, 5, 7];
  for (const M of D.modules) {
    const h = document.createElement('h3');
    h.textContent = M.module;
    host.appendChild(h);
    let ymax = 0;
    for (const it of M.iters) ymax = Math.max(ymax, it[1], cats.reduce((s, c) => s + it[2][c], 0));
    const n = M.iters.length, W = 1000, H = 220, left = 60, top = 10;
    const bw = Math.max(1, W / Math.max(1, n)), y = v => top + H - (ymax > 0 ? v / ymax * H : 0);
    const svg = el('svg', {width: left + W + 20, height: top + H + 30}, host);
    const step = niceStep(ymax || 1, 5);
    for (let v = 0; v <= ymax + 1e-9; v += step) {
      el('line', {x1: left, x2: left + W, y1: y(v), y2: y(v), stroke: '#eee'}, svg);
      el('text', {x: left - 6, y: y(v) + 4, 'text-anchor': 'end'}, svg).textContent = v.toFixed(step < 1 ? 2 : 0);
    }
    M.iters.forEach((it, i) => {
      let acc = 0;
      for (const c of cats) {
        const v = it[2][c];
        if (v <= 0) continue;
        const r = el('rect', {x: left + i * bw, y: y(acc + v), width: Math.max(0.5, bw - 1), height: y(acc) - y(acc + v),
                              fill: D.colors[c], opacity: it[3] ? 1 : 0.45}, svg);
        tip(r, 'iteration ' + it[0] + '\n' + D.labels[c] + ': ' + v.toFixed(3) + ' ms');
        acc += v;
      }
      const s = el('circle', {cx: left + i * bw + bw / 2, cy: y(it[1]), r: 2, fill: '#000'}, svg);
      tip(s, 'iteration ' + it[0] + ' step ' + it[1].toFixed(3) + ' ms');
      if (n <= 40 || i % Math.ceil(n / 20) == 0)
        el('text', {x: left + i * bw + bw / 2, y: top + H + 14, 'text-anchor': 'middle'}, svg).textContent = it[0];
    });
  }
  const lg = document.getElementById('stalls-legend');
  legend(lg, cats);
  lg.innerHTML += '<span><i style="background:#000;border-radius:6px"></i>step time</span>';
}
drawTimeline();
drawStalls();
)";

}  // namespace

std::string render_html(const Report& r) {
  std::string h = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>hetero-profile: " + esc(r.source) +
                  "</title><style>" + kStyle + "</style></head><body>\n";
  h += "<h1>hetero-profile</h1><p>" + esc(r.source) + "; warm-up " + std::to_string(r.warmup) +
       " iteration(s); step time (all ranks, median) " + num(r.job_step_ms) + " ms</p>\n";
  for (const ModuleReport& m : r.modules) {
    h += "<h2>" + esc(m.module) + " (" + std::to_string(m.ranks) + " ranks; medians over " +
         std::to_string(m.summary.iterations) + " iterations)</h2>\n<table><tr><th></th><th>median ms</th><th>% step</th>"
         "<th>slowest rank ms</th></tr>\n<tr><td>step time</td><td>" + num(m.summary.step_ms) + "</td><td></td><td></td></tr>\n";
    for (int c = 0; c < kNumCategories; ++c)
      h += "<tr><td><i style=\"display:inline-block;width:10px;height:10px;background:" + std::string(kColors[c]) +
           "\"></i> " + category_label(category_at(c)) + "</td><td>" + num(m.summary.mean_ms[c]) + "</td><td>" +
           num(m.summary.pct[c], 1) + "%</td><td>" + num(m.summary.max_ms[c]) + "</td></tr>\n";
    h += "</table>\n";
  }
  h += "<h2>Stragglers (z &ge; " + num(r.z_threshold, 2) + " flagged)</h2>\n";
  if (r.stragglers.empty()) {
    h += "<p class=\"note\">No rank's compute is above its peers' mean.</p>\n";
  } else {
    h += "<table><tr><th>rank</th><th>compute ms</th><th>peers</th><th>peer mean ms</th><th>peer std ms</th>"
         "<th>z</th><th></th></tr>\n";
    for (const Straggler& s : r.stragglers)
      h += "<tr><td>" + esc(describe_role(s.role)) + "</td><td>" + num(s.compute_ms) + "</td><td>" +
           std::to_string(s.peers) + "</td><td>" + num(s.peer_mean_ms) + "</td><td>" + num(s.peer_std_ms) +
           "</td><td>" + num(s.z, 2) + "</td><td>" + (s.flagged ? "straggler" : "") + "</td></tr>\n";
    h += "</table>\n";
  }
  if (r.critical_path) {
    const CriticalPath& p = *r.critical_path;
    h += "<h2>Timeline of iteration " + std::to_string(p.iter) + " (" + num(p.iteration_ms) +
         " ms; critical path outlined)</h2>\n<div id=\"timeline-legend\"></div><div id=\"timeline\"></div>\n";
    h += "<table><tr><th>critical path: module</th><th>category</th><th>ms</th></tr>\n";
    for (const PathTotal& t : p.totals)
      h += "<tr><td>" + esc(t.module) + "</td><td>" + esc(t.what) + "</td><td>" + num(t.ms) + "</td></tr>\n";
    h += "</table>\n";
  }
  h += "<h2>Stalls and waits per iteration (mean over the ranks that record each; faded: warm-up or incomplete)</h2>\n"
       "<div id=\"stalls-legend\"></div><div id=\"stalls\"></div>\n";
  if (!r.notes.empty()) {
    h += "<h2>Notes</h2><ul>";
    for (const std::string& n : r.notes) h += "<li>" + esc(n) + "</li>";
    h += "</ul>\n";
  }
  h += "<script type=\"application/json\" id=\"data\">" + data_json(r) + "</script>\n<script>" + kScript +
       "</script>\n</body></html>\n";
  return h;
}

}  // namespace hetero::profiler
