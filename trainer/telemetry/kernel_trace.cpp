#include "telemetry/kernel_trace.h"

#include <filesystem>
#include <iostream>
#include <set>
#include <stdexcept>

#ifdef HETERO_WITH_CUDA
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/autograd/profiler_kineto.h>
#endif

namespace hetero {

bool kernel_trace_supported() {
#ifdef HETERO_WITH_CUDA
  return true;
#else
  return false;
#endif
}

#ifdef HETERO_WITH_CUDA
namespace {
namespace kp = torch::profiler::impl;
const std::set<kp::ActivityType> kActivities{kp::ActivityType::CPU, kp::ActivityType::CUDA};
}  // namespace
#endif

void KernelTrace::begin(int iter) {
  if (path_.empty() || iter != iteration_) return;
#ifdef HETERO_WITH_CUDA
  c10::cuda::device_synchronize();
  // Input shapes on: kernel_top.py --by-shape tells the copies of a [c, q, q]
  // score tensor from those of a weight.
  const kp::ProfilerConfig config(kp::ProfilerState::KINETO, /*report_input_shapes=*/true);
  torch::autograd::profiler::prepareProfiler(config, kActivities);
  torch::autograd::profiler::enableProfiler(config, kActivities);
  recording_ = true;
#else
  throw std::logic_error("a kernel trace needs a CUDA build (kernel_trace_supported)");
#endif
}

void KernelTrace::end(int iter) {
  if (!recording_ || iter != iteration_) return;
#ifdef HETERO_WITH_CUDA
  c10::cuda::device_synchronize();
  recording_ = false;
  const auto result = torch::autograd::profiler::disableProfiler();
  const std::filesystem::path parent = std::filesystem::path(path_).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  result->save(path_);
  std::cerr << "kernel trace of iteration " << iteration_ << " written to " << path_ << std::endl;
#endif
}

KernelTrace::~KernelTrace() {
#ifdef HETERO_WITH_CUDA
  if (recording_) torch::autograd::profiler::disableProfiler();  // a run that ended mid-trace leaves no file
#endif
}

}  // namespace hetero
