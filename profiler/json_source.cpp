#include "json_source.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "categories.h"
#include "hetero/trace.h"

namespace fs = std::filesystem;

namespace hetero::profiler {

int rank_from_file_name(const std::string& path) {
  const std::string name = fs::path(path).filename().string();
  const auto at = name.rfind("rank-");
  if (at == std::string::npos) return -1;
  std::size_t i = at + 5;
  if (i >= name.size() || !std::isdigit(static_cast<unsigned char>(name[i]))) return -1;
  long v = 0;
  while (i < name.size() && std::isdigit(static_cast<unsigned char>(name[i])) && v < 100000000)
    v = v * 10 + (name[i++] - '0');
  return static_cast<int>(v);
}

std::vector<std::string> JsonTraceSource::list_rank_files(const std::string& trace_dir) {
  std::vector<std::string> files;
  std::error_code ec;
  if (!fs::is_directory(trace_dir, ec)) return files;
  for (const auto& entry : fs::directory_iterator(trace_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file(ec) && name.rfind("rank-", 0) == 0 && entry.path().extension() == ".json")
      files.push_back(entry.path().string());
  }
  return files;
}

JsonTraceSource::JsonTraceSource(std::vector<std::string> files, const RunConfig* config, std::string label)
    : files_(std::move(files)), config_(config), label_(std::move(label)) {
  const bool all_named = std::all_of(files_.begin(), files_.end(), [](const std::string& f) {
    return rank_from_file_name(f) >= 0;
  });
  if (all_named)
    std::stable_sort(files_.begin(), files_.end(), [](const std::string& a, const std::string& b) {
      return rank_from_file_name(a) < rank_from_file_name(b);
    });
  ranges_.resize(files_.size());
  roles_.resize(files_.size());
  indexed_.resize(files_.size(), false);
}

std::string JsonTraceSource::describe() const {
  return label_ + " (" + std::to_string(files_.size()) + " rank trace" + (files_.size() == 1 ? "" : "s") + ")";
}

namespace {

// Turns the file's events into profiler events of one rank.
class Adapter : public TraceVisitor {
 public:
  Adapter(RankVisitor& out, RankReadInfo& info, int rank, std::optional<int> only_iter,
          std::map<int, std::pair<std::uint64_t, std::uint64_t>>* ranges)
      : out_(out), info_(info), rank_(rank), only_iter_(only_iter), ranges_(ranges) {}

  // The metadata line comes before any event: its pid is the rank.
  void on_rank(const TraceRankInfo& r) override {
    if (r.rank >= 0) rank_ = r.rank;
    info_.role.rank = rank_;
    info_.role.module = r.module.empty() ? "unknown" : r.module;
    info_.role.replica = r.replica;
    info_.role.stage = r.stage;
    info_.role.tp_rank = r.tp_rank;
    has_meta_ = true;
  }

  void on_event(const TraceEvent& t) override {
    if (t.iter < 0) {
      ++info_.no_iter;
      return;
    }
    if (ranges_) {
      auto [it, fresh] = ranges_->try_emplace(t.iter, t.offset, t.end_offset);
      if (!fresh) {
        it->second.first = std::min(it->second.first, t.offset);
        it->second.second = std::max(it->second.second, t.end_offset);
      }
    }
    if (only_iter_ && t.iter != *only_iter_) return;
    const int region = region_index(t.name);
    if (region < 0) {
      ++info_.unknown_regions;
      return;
    }
    Event e;
    e.rank = rank_;
    e.region = region;
    e.iter = t.iter;
    e.microbatch = t.microbatch;
    e.start_ns = t.ts_ns;
    e.end_ns = t.ts_ns + t.dur_ns;
    ++info_.events;
    out_.on_event(e);
  }

  bool has_meta() const { return has_meta_; }
  int rank() const { return rank_; }

 private:
  RankVisitor& out_;
  RankReadInfo& info_;
  int rank_;
  std::optional<int> only_iter_;
  std::map<int, std::pair<std::uint64_t, std::uint64_t>>* ranges_;
  bool has_meta_ = false;
};

}  // namespace

RankReadInfo JsonTraceSource::read(std::size_t index, RankVisitor& visitor, std::optional<int> only_iter) {
  const std::string& path = files_.at(index);
  RankReadInfo info;
  // A ranged read (one iteration, after a full read) skips the metadata
  // line, so it takes the role the full read found.
  const bool ranged = only_iter && indexed_[index];
  if (ranged) {
    info.role = *roles_[index];
    Adapter adapter(visitor, info, info.role.rank, only_iter, nullptr);
    const auto it = ranges_[index].find(*only_iter);
    if (it != ranges_[index].end()) {
      const TraceReadStats stats = read_trace_file(path, adapter, it->second.first, it->second.second);
      info.bad_lines = stats.bad_lines;
    }
    return info;
  }
  // The rank: the metadata's pid, else the file name's, else the position.
  const int named = rank_from_file_name(path);
  ranges_[index].clear();
  Adapter adapter(visitor, info, named >= 0 ? named : static_cast<int>(index), only_iter, &ranges_[index]);
  const TraceReadStats stats = read_trace_file(path, adapter);
  indexed_[index] = stats.line_format;  // offsets only mean something line by line
  info.bad_lines = stats.bad_lines;
  info.closed = stats.closed;
  if (!adapter.has_meta()) {
    if (config_) info.role = config_->role_of(adapter.rank());
    info.role.rank = adapter.rank();
  }
  roles_[index] = info.role;
  return info;
}

}  // namespace hetero::profiler
