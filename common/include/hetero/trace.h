// Per-rank timelines (design §8): RUN/trace/rank-NNNNN.json, Chrome trace
// events in the JSON Array Format, written and read one event per line.
//
// The file, as TraceWriter writes it:
//
//   [
//   {"name":"process_name","ph":"M","pid":3,"tid":0,"args":{"name":"rank 3 llm lane 1 stage 0"}},
//   {"name":"hetero_rank","ph":"M","pid":3,"tid":0,"args":{"module":"llm","replica":1,"stage":0,"tp_rank":0}},
//   {"name":"llm/forward","ph":"X","ts":1795390593996383,"dur":1876,"pid":3,"tid":0,"args":{"iter":1,"microbatch":0}},
//   {"name":"grad/reduce","ph":"X","ts":1795390594034845,"dur":5749,"pid":3,"tid":0,"args":{"iter":1}},
//   ...
//   {"name":"trace_end","ph":"M","pid":3,"tid":0,"args":{}}
//   ]
//
// - `name` is a region of hetero/regions.h; `ts` and `dur` are wall-clock
//   microseconds (system_clock since the epoch), so ranks on different nodes
//   share one time axis; `pid` is the global rank, `tid` 0.
// - `args.iter` is the iteration; `args.microbatch` is present only for
//   per-microbatch regions (absent means -1, e.g. grad/reduce, optim/step).
// - `hetero_rank` says which part of the job the rank holds: module
//   "encoder", "llm" or "colocated"; replica = encoder data-parallel index or
//   LLM lane; stage = LLM pipeline stage (0 for the encoder); tp_rank.
// - Exactly one event per line, each followed by a comma. A crashed run's
//   file has no closing "]": Perfetto and chrome://tracing accept that; a
//   normal close() writes the `trace_end` metadata event and "]".
#pragma once

#include <cstdint>
#include <fstream>
#include <limits>
#include <string>
#include <string_view>

namespace hetero {

// Who wrote a trace: the profiler groups ranks by it.
struct TraceRankInfo {
  int rank = 0;
  std::string module;  // "encoder", "llm" or "colocated"
  int replica = 0;     // encoder dp index or LLM lane
  int stage = 0;       // pipeline stage (0 for the encoder)
  int tp_rank = 0;
};

// Wall-clock microseconds since the epoch (std::chrono::system_clock): the
// time base of every trace event.
std::int64_t trace_clock_us();

// Streams one rank's trace. Events are formatted into a buffer and written
// every `flush_every` events, on flush(), and on close() / destruction.
// Not thread-safe: one writer per rank, used by one thread.
class TraceWriter {
 public:
  static constexpr int kDefaultFlushEvery = 256;

  // Creates (truncates) `path` and writes the metadata events; throws
  // std::runtime_error if the file cannot be opened.
  TraceWriter(const std::string& path, const TraceRankInfo& info, int flush_every = kDefaultFlushEvery);
  ~TraceWriter();  // close(), errors swallowed
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;

  // A complete event of region `name` (hetero/regions.h) that began at
  // `start_us` (trace_clock_us()) and lasted `dur_us`. `microbatch` is -1
  // for per-iteration regions. Ignored after close().
  void region(const char* name, std::int64_t start_us, std::int64_t dur_us, int iter, int microbatch);
  // Writes buffered events to the file and flushes it; throws
  // std::runtime_error on a write error.
  void flush();
  // Writes the closing metadata event and "]"; idempotent.
  void close();

 private:
  void write_buffer();

  std::ofstream out_;
  std::string path_;
  std::string buffer_;
  std::string pid_;  // the rank, formatted once
  int flush_every_;
  int pending_ = 0;
  bool closed_ = false;
};

// ---- Reading -------------------------------------------------------------

// One complete ("ph":"X") event as read from a trace file.
struct TraceEvent {
  std::string_view name;  // valid only during the visitor call
  int pid = -1;
  std::int64_t ts_ns = 0;   // Chrome's microseconds, converted exactly to ns
  std::int64_t dur_ns = 0;
  int iter = -1;        // args.iter; -1 when absent
  int microbatch = -1;  // args.microbatch; -1 when absent
  std::uint64_t offset = 0;  // byte offset of the event's line (line format)
  std::uint64_t end_offset = 0;  // byte offset just past that line
};

class TraceVisitor {
 public:
  virtual ~TraceVisitor() = default;
  // The `hetero_rank` metadata event (rank = its pid).
  virtual void on_rank(const TraceRankInfo& /*info*/) {}
  // Each complete event, in file order.
  virtual void on_event(const TraceEvent& e) = 0;
};

struct TraceReadStats {
  std::int64_t events = 0;     // complete events delivered
  std::int64_t bad_lines = 0;  // lines that are not one JSON event (e.g. a crash's torn last line)
  bool closed = false;         // the closing "]" was seen: the writer finished normally
  bool line_format = true;     // false: not one event per line, read with a streaming JSON parser
};

// Streams the events of one trace file to `visitor` without holding the file
// in memory. Files in TraceWriter's one-event-per-line form are read line by
// line from byte `begin` (a line start) up to byte `end`; other Chrome trace
// JSON (an array or {"traceEvents": [...]} spread over lines) is read with
// nlohmann::json's streaming parser, then `begin`/`end` are ignored.
// Throws std::runtime_error if the file cannot be opened.
TraceReadStats read_trace_file(const std::string& path, TraceVisitor& visitor, std::uint64_t begin = 0,
                               std::uint64_t end = std::numeric_limits<std::uint64_t>::max());

// Parses one line (one JSON object, trailing comma allowed). Returns 'X' for
// a complete event (filled into `event`), 'R' for hetero_rank metadata
// (filled into `rank`), 'O' for any other valid event line, 0 if the line is
// not one JSON object. `scratch` holds an unescaped name if needed.
char parse_trace_line(std::string_view line, TraceEvent& event, TraceRankInfo& rank, std::string& scratch);

}  // namespace hetero
