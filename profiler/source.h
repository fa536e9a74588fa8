// Where region events come from: one stream per rank, read one rank at a
// time so that 800 ranks never sit in memory together. Two sources exist:
// the run's own traces (json_source.h) and nsys SQLite exports
// (nsys_source.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hetero::profiler {

// The part of the job a rank holds.
struct RankRole {
  int rank = -1;
  std::string module = "unknown";  // "encoder", "llm", "colocated" or "unknown"
  int replica = 0;                 // encoder dp index or LLM lane
  int stage = 0;                   // LLM pipeline stage (0 for the encoder)
  int tp_rank = 0;
  bool known() const { return module != "unknown"; }
};

// One region event of a rank, times in ns on a clock shared by all ranks.
struct Event {
  int rank = -1;
  int region = -1;  // categories.h Region
  int iter = -1;
  int microbatch = -1;  // -1 for per-iteration regions
  std::int64_t start_ns = 0, end_ns = 0;
};

class RankVisitor {
 public:
  virtual ~RankVisitor() = default;
  virtual void on_event(const Event& e) = 0;
};

// What a source noticed while reading a rank (the report prints it).
struct RankReadInfo {
  RankRole role;
  std::int64_t events = 0;
  std::int64_t unknown_regions = 0;  // events named outside design §8, ignored
  std::int64_t bad_lines = 0;        // lines that are not one event (a crash's torn last line)
  std::int64_t no_iter = 0;          // events without args.iter / "iter=", ignored
  bool closed = true;                // the file was closed by its writer
};

class RankSource {
 public:
  virtual ~RankSource() = default;
  // e.g. "RUN/trace (3 rank files)".
  virtual std::string describe() const = 0;
  virtual std::size_t size() const = 0;
  // Streams the events of the index-th rank (files are ordered by rank) to
  // `visitor`; with `only_iter`, only that iteration's (the source may skip
  // the rest of the file without parsing it). Returns the rank's role and
  // counts.
  virtual RankReadInfo read(std::size_t index, RankVisitor& visitor, std::optional<int> only_iter) = 0;
};

}  // namespace hetero::profiler
