// The regions of design §8 as this rank lives them: each is an NVTX range
// on CUDA builds and an event in RUN/trace/rank-NNNNN.json on every build.
// On CUDA, times come from CUDA events on the current stream, resolved once
// per iteration, so durations are what the GPU spent, not launch times.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "hetero/heartbeat.h"
#include "hetero/trace.h"

namespace hetero {

class Timeline {
 public:
  // `trace_path` empty: no trace file (NVTX ranges remain on CUDA builds).
  Timeline(const std::string& trace_path, const TraceRankInfo& info, at::Device device);
  ~Timeline();

  class Scope {
   public:
    Scope(Timeline* timeline, const char* name, int iter, int microbatch);
    Scope(Scope&& other) noexcept;
    Scope(const Scope&) = delete;
    ~Scope();

   private:
    Timeline* timeline_;
    std::size_t index_;
  };

  // Marks `name` from now until the returned scope ends.
  Scope region(const char* name, int iter, int microbatch = -1);
  // Called at the start and the end of each iteration: anchors and then
  // resolves this iteration's times and writes them out.
  void begin_iteration();
  void end_iteration();
  // Finishes the trace file; throws when it cannot be written (the
  // destructor calls it too, but can only report a failure on stderr).
  void close();
  // Every region entered and left also updates `position` (the heartbeat's
  // view of this rank); null: none.
  void report_position_to(RankPosition* position) { position_ = position; }

 private:
  struct Mark;
  std::size_t open(const char* name, int iter, int microbatch);
  void close_mark(std::size_t index);

  at::Device device_;
  std::unique_ptr<TraceWriter> writer_;
  std::vector<Mark> marks_;
  struct Anchor;
  std::unique_ptr<Anchor> anchor_;
  RankPosition* position_ = nullptr;
};

}  // namespace hetero
