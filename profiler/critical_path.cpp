#include "critical_path.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <set>

#include "stats.h"

namespace hetero::profiler {
namespace {

using Ns = std::int64_t;

class Walker {
 public:
  Walker(const std::vector<Event>& events, const std::map<int, RankRole>& roles, const RunConfig* config)
      : events_(events), roles_(roles), config_(config) {
    for (std::size_t i = 0; i < events.size(); ++i) by_rank_[events[i].rank].push_back(i);
    for (auto& [rank, idx] : by_rank_)
      std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) {
        const Event &x = events[a], &y = events[b];
        return x.start_ns != y.start_ns ? x.start_ns < y.start_ns : x.end_ns < y.end_ns;
      });
  }

  const RankRole& role(int rank) const {
    static const RankRole unknown;
    const auto it = roles_.find(rank);
    return it == roles_.end() ? unknown : it->second;
  }

  // The rank's last event that starts before `t`.
  const Event* last_before(int rank, Ns t) const {
    const auto it = by_rank_.find(rank);
    if (it == by_rank_.end()) return nullptr;
    const auto& idx = it->second;
    // Events are sorted by start; take the last with start < t.
    auto pos = std::partition_point(idx.begin(), idx.end(), [&](std::size_t i) { return events_[i].start_ns < t; });
    if (pos == idx.begin()) return nullptr;
    // Among events starting before t, prefer one that ends by t (nested or
    // overlapping events: the latest-ending one that is not after t).
    const Event* best = nullptr;
    for (auto p = pos; p != idx.begin();) {
      const Event& e = events_[*--p];
      if (e.end_ns <= t && (!best || e.end_ns > best->end_ns)) best = &e;
      if (best && e.end_ns < best->start_ns) break;
    }
    return best ? best : &events_[*(pos - 1)];
  }

  // The event that ended wait `w` on rank `role`, or null.
  const Event* producer(const Event& w, const RankRole& r, Ns w_end) const {
    std::vector<int> regions;
    std::function<bool(const RankRole&)> accept;
    if (w.region == kLlmEncoderStall) {
      regions = {kBridgeSend, kEncoderForward};
      std::vector<int> replicas;
      if (config_ && config_->hetero() && r.known()) replicas = config_->encoder_replicas_of_lane(r.replica);
      accept = [replicas](const RankRole& p) {
        return p.module == "encoder" &&
               (replicas.empty() || std::find(replicas.begin(), replicas.end(), p.replica) != replicas.end());
      };
    } else if (w.region == kBridgeWait) {
      regions = {kBridgeSend, kLlmBackward};
      std::vector<int> lanes;
      if (config_ && config_->hetero() && r.known()) lanes = config_->lanes_of_encoder_replica(r.replica);
      accept = [lanes](const RankRole& p) {
        return p.module == "llm" && p.stage == 0 &&
               (lanes.empty() || std::find(lanes.begin(), lanes.end(), p.replica) != lanes.end());
      };
    } else if (w.region == kPpWait) {
      regions = {kPpSend, kLlmForward, kLlmBackward};
      accept = [r](const RankRole& p) {
        return r.known() && p.module == r.module && p.replica == r.replica && p.tp_rank == r.tp_rank &&
               (p.stage == r.stage - 1 || p.stage == r.stage + 1);
      };
    } else {
      return nullptr;
    }
    // The latest candidate ending within the wait; failing that (clocks of
    // two nodes a little apart), the first ending shortly after it.
    const Ns tolerance = (w_end - w.start_ns) / 20 + 50'000;
    const Event* within = nullptr;
    const Event* after = nullptr;
    for (const auto& [rank, idx] : by_rank_) {
      if (rank == w.rank || !accept(role(rank))) continue;
      for (std::size_t i : idx) {
        const Event& p = events_[i];
        if (p.microbatch != w.microbatch || std::find(regions.begin(), regions.end(), p.region) == regions.end())
          continue;
        if (p.end_ns > w.start_ns && p.end_ns <= w_end) {
          if (!within || p.end_ns > within->end_ns) within = &p;
        } else if (p.end_ns > w_end && p.end_ns <= w_end + tolerance) {
          if (!after || p.end_ns < after->end_ns) after = &p;
        }
      }
    }
    return within ? within : after;
  }

  // The peer that entered collective `c` last (itself if nobody came later).
  const Event* last_arrival(const Event& c, const RankRole& r) const {
    const Event* last = &c;
    for (const auto& [rank, idx] : by_rank_) {
      if (rank == c.rank) continue;
      const RankRole& p = role(rank);
      const bool peer = c.region == kOptimStep ||
                        (r.known() && p.module == r.module && p.stage == r.stage && p.tp_rank == r.tp_rank);
      if (!peer) continue;
      for (std::size_t i : idx) {
        const Event& e = events_[i];
        if (e.region == c.region && e.start_ns > last->start_ns) last = &e;
      }
    }
    return last;
  }

  const std::vector<Event>& events_;
  const std::map<int, RankRole>& roles_;
  const RunConfig* config_;
  std::map<int, std::vector<std::size_t>> by_rank_;
};

}  // namespace

CriticalPath critical_path(int iter, const std::vector<Event>& events, const std::map<int, RankRole>& roles,
                           const RunConfig* config) {
  CriticalPath path;
  path.iter = iter;
  std::vector<Event> mine;
  for (const Event& e : events)
    if (e.iter == iter) mine.push_back(e);
  if (mine.empty()) return path;
  Walker w(mine, roles, config);
  Ns t0 = std::numeric_limits<Ns>::max();
  const Event* last = nullptr;
  for (const Event& e : mine) {
    t0 = std::min(t0, e.start_ns);
    if (!last || e.end_ns > last->end_ns || (e.end_ns == last->end_ns && e.rank < last->rank)) last = &e;
  }
  path.iteration_ms = ns_to_ms(static_cast<double>(last->end_ns - t0));

  std::vector<PathSegment> back;  // collected walking backwards
  auto add = [&](int rank, int region, int mb, const char* kind, Ns from, Ns to) {
    if (to <= from) return;
    PathSegment s;
    s.role = w.role(rank);
    s.role.rank = rank;
    s.region = region;
    s.microbatch = mb;
    s.kind = kind;
    s.start_ms = ns_to_ms(static_cast<double>(from - t0));
    s.dur_ms = ns_to_ms(static_cast<double>(to - from));
    back.push_back(s);
  };

  int rank = last->rank;
  Ns t = last->end_ns;
  std::set<std::pair<int, Ns>> jumped;  // (rank, time) already handed over to: no ping-pong
  for (std::size_t guard = 0; guard < 4 * mine.size() + 16; ++guard) {
    const Event* e = w.last_before(rank, t);
    if (!e) break;
    const Ns end = std::min(e->end_ns, t);
    add(rank, -1, -1, "gap", end, t);
    const RankRole& r = w.role(rank);
    if (is_wait_region(e->region)) {
      const Event* p = w.producer(*e, r, end);
      const Ns handoff = p ? std::min(p->end_ns, end) : 0;
      if (p && jumped.insert({p->rank, handoff}).second) {
        add(rank, e->region, e->microbatch, "transfer", handoff, end);
        rank = p->rank;
        t = handoff;
        continue;
      }
      add(rank, e->region, e->microbatch, "wait", e->start_ns, end);
      t = e->start_ns;
      continue;
    }
    if (e->region == kGradReduce || e->region == kOptimStep) {
      const Event* l = w.last_arrival(*e, r);
      if (l != e && l->start_ns > e->start_ns && l->start_ns < end && jumped.insert({l->rank, l->start_ns}).second) {
        add(rank, e->region, e->microbatch, "collective", l->start_ns, end);
        rank = l->rank;
        t = l->start_ns;
        continue;
      }
    }
    add(rank, e->region, e->microbatch, "work", e->start_ns, end);
    t = e->start_ns;
  }

  std::reverse(back.begin(), back.end());
  path.segments = std::move(back);
  std::map<std::pair<std::string, std::string>, double> totals;
  std::vector<std::pair<std::string, std::string>> order;
  for (const PathSegment& s : path.segments) {
    path.covered_ms += s.dur_ms;
    const std::pair<std::string, std::string> key{s.role.module,
                                                  s.region < 0 ? "gap" : category_key(category_of(s.region))};
    if (!totals.count(key)) order.push_back(key);
    totals[key] += s.dur_ms;
    if (path.hops.empty() || path.hops.back() != s.role.rank) path.hops.push_back(s.role.rank);
  }
  for (const auto& key : order) path.totals.push_back({key.first, key.second, totals[key]});
  return path;
}

}  // namespace hetero::profiler
