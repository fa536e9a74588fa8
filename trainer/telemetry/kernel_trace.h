// A PyTorch-profiler (Kineto) trace of one iteration: every ATen op and
// every CUDA kernel with its duration, as a Chrome trace (chrome://tracing,
// Perfetto; scripts/kernel_top.py sums it by kernel). The NVTX regions of
// the timeline need Nsight Systems to be seen; this needs only LibTorch, so
// it also runs where nsys does not. CUDA builds only (kernel_trace_supported).
#pragma once

#include <string>

namespace hetero {

bool kernel_trace_supported();

class KernelTrace {
 public:
  // Records iteration `iteration` into `path`; an empty path records nothing.
  KernelTrace(std::string path, int iteration) : path_(std::move(path)), iteration_(iteration) {}
  ~KernelTrace();
  KernelTrace(const KernelTrace&) = delete;
  KernelTrace& operator=(const KernelTrace&) = delete;

  // Around each iteration: begin starts recording at `iteration`, end stops
  // after it (once the device has finished its work) and writes the file.
  void begin(int iter);
  void end(int iter);

 private:
  std::string path_;
  int iteration_;
  bool recording_ = false;
};

}  // namespace hetero
