// RUN/trace/rank-NNNNN.json, the trainer's own per-rank Chrome traces
// (hetero/trace.h), read one file at a time, line by line.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "run_config.h"
#include "source.h"

namespace hetero::profiler {

class JsonTraceSource : public RankSource {
 public:
  // `files` in any order; they are sorted by the rank in their name
  // (rank-NNNNN), else kept in the given order. `config` (may be null)
  // supplies roles for files without hetero_rank metadata.
  JsonTraceSource(std::vector<std::string> files, const RunConfig* config, std::string label);
  // Every trace/rank-*.json under `trace_dir`; empty if there is none.
  static std::vector<std::string> list_rank_files(const std::string& trace_dir);

  std::string describe() const override;
  std::size_t size() const override { return files_.size(); }
  RankReadInfo read(std::size_t index, RankVisitor& visitor, std::optional<int> only_iter) override;

 private:
  std::vector<std::string> files_;
  const RunConfig* config_;
  std::string label_;
  // Per file, per iteration: the byte range its lines span (learned on a
  // full read), so a later read of one iteration parses only those lines.
  std::vector<std::map<int, std::pair<std::uint64_t, std::uint64_t>>> ranges_;
  std::vector<std::optional<RankRole>> roles_;  // found by a full read
  std::vector<bool> indexed_;                   // ranges_ hold for this file
};

// The rank in a file name's "rank-NNNNN", or -1.
int rank_from_file_name(const std::string& path);

}  // namespace hetero::profiler
