// Per-rank timelines (design §8): Chrome trace events, one per line, in the
// JSON Array Format, so Perfetto loads a file even when a crashed run never
// closed it.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

namespace hetero {

// Who wrote a trace: the profiler groups ranks by it.
struct TraceRankInfo {
  int rank = 0;
  std::string module;  // "encoder", "llm" or "colocated"
  int replica = 0;     // encoder dp index or LLM lane
  int stage = 0;       // pipeline stage (0 for the encoder)
  int tp_rank = 0;
};

class TraceWriter {
 public:
  TraceWriter(const std::string& path, const TraceRankInfo& info);
  ~TraceWriter();
  // A complete event: wall-clock microseconds since the epoch.
  void region(const char* name, std::int64_t start_us, std::int64_t dur_us, int iter, int microbatch);
  void flush();
  void close();

 private:
  std::ofstream out_;
  std::string path_;
  int pid_;
  bool closed_ = false;
};

}  // namespace hetero
