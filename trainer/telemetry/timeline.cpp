#include "telemetry/timeline.h"

#include <chrono>
#include <iostream>

#ifdef HETERO_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>
#include <nvtx3/nvToolsExt.h>
#endif

namespace hetero {
namespace {
std::int64_t wall_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

#ifdef HETERO_WITH_CUDA
nvtxDomainHandle_t nvtx_domain() {
  static nvtxDomainHandle_t domain = nvtxDomainCreateA("hetero");
  return domain;
}
#endif
}  // namespace

struct Timeline::Mark {
  const char* name;
  int iter, microbatch;
  std::int64_t start_us = 0, end_us = 0;  // CPU builds
#ifdef HETERO_WITH_CUDA
  std::shared_ptr<at::cuda::CUDAEvent> start_ev, end_ev;
#endif
};

struct Timeline::Anchor {
  std::int64_t wall_us = 0;  // wall time at which `event` completed
#ifdef HETERO_WITH_CUDA
  std::shared_ptr<at::cuda::CUDAEvent> event;
#endif
};

Timeline::Timeline(const std::string& trace_path, const TraceRankInfo& info, at::Device device)
    : device_(device), anchor_(std::make_unique<Anchor>()) {
  if (!trace_path.empty()) writer_ = std::make_unique<TraceWriter>(trace_path, info);
}

Timeline::~Timeline() {
  try {
    close();
  } catch (const std::exception& e) {
    // No exception may leave a destructor (it would end the process with
    // std::terminate); the normal path calls close() itself and fails there.
    std::cerr << "hetero-train: " << e.what() << std::endl;
  }
}

void Timeline::close() {
  std::unique_ptr<TraceWriter> writer = std::move(writer_);
  if (writer) writer->close();
}

Timeline::Scope Timeline::region(const char* name, int iter, int microbatch) {
  return Scope(this, name, iter, microbatch);
}

std::size_t Timeline::open(const char* name, int iter, int microbatch) {
  if (position_) position_->enter(name, iter);
  Mark m{name, iter, microbatch};
#ifdef HETERO_WITH_CUDA
  const std::string label =
      std::string(name) + " iter=" + std::to_string(iter) + (microbatch >= 0 ? " mb=" + std::to_string(microbatch) : "");
  nvtxEventAttributes_t attr{};
  attr.version = NVTX_VERSION;
  attr.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
  attr.messageType = NVTX_MESSAGE_TYPE_ASCII;
  attr.message.ascii = label.c_str();
  nvtxDomainRangePushEx(nvtx_domain(), &attr);
  if (device_.is_cuda() && writer_) {
    m.start_ev = std::make_shared<at::cuda::CUDAEvent>(cudaEventDefault);
    m.start_ev->record();
  }
#endif
  m.start_us = wall_us();
  marks_.push_back(m);
  return marks_.size() - 1;
}

void Timeline::close_mark(std::size_t index) {
  if (position_) position_->leave();
  Mark& m = marks_[index];
  m.end_us = wall_us();
#ifdef HETERO_WITH_CUDA
  if (m.start_ev) {
    m.end_ev = std::make_shared<at::cuda::CUDAEvent>(cudaEventDefault);
    m.end_ev->record();
  }
  nvtxDomainRangePop(nvtx_domain());
#endif
}

void Timeline::begin_iteration() {
  marks_.clear();
#ifdef HETERO_WITH_CUDA
  if (device_.is_cuda() && writer_) {
    // Anchor GPU time to wall time once per iteration: drain the compute
    // stream (the regions' events are on it), then an event recorded now
    // completes now. Not the whole device: a checkpoint's copy on its side
    // stream goes on through the next iteration.
    c10::cuda::getCurrentCUDAStream().synchronize();
    anchor_->event = std::make_shared<at::cuda::CUDAEvent>(cudaEventDefault);
    anchor_->event->record();
    anchor_->event->synchronize();
    anchor_->wall_us = wall_us();
  }
#endif
}

void Timeline::end_iteration() {
  if (!writer_) return;
  for (const Mark& m : marks_) {
    std::int64_t start = m.start_us, end = m.end_us;
#ifdef HETERO_WITH_CUDA
    if (m.start_ev && m.end_ev && anchor_->event) {
      m.end_ev->synchronize();
      start = anchor_->wall_us + static_cast<std::int64_t>(1000.0 * anchor_->event->elapsed_time(*m.start_ev));
      end = anchor_->wall_us + static_cast<std::int64_t>(1000.0 * anchor_->event->elapsed_time(*m.end_ev));
    }
#endif
    writer_->region(m.name, start, end - start, m.iter, m.microbatch);
  }
  marks_.clear();
  writer_->flush();
}

Timeline::Scope::Scope(Timeline* timeline, const char* name, int iter, int microbatch)
    : timeline_(timeline), index_(timeline->open(name, iter, microbatch)) {}

Timeline::Scope::Scope(Scope&& other) noexcept : timeline_(other.timeline_), index_(other.index_) {
  other.timeline_ = nullptr;
}

Timeline::Scope::~Scope() {
  if (timeline_) timeline_->close_mark(index_);
}

}  // namespace hetero
