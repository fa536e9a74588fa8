// The CUDA caching allocator's counters of one device, for the metrics and
// the benchmarks. nvidia-smi shows the reserve plus the CUDA context and
// NCCL's buffers; the gap between reserved and allocated is the allocator's
// cache and fragmentation.
#pragma once

#include <ATen/ATen.h>

namespace hetero {

struct DeviceMemory {
  double allocated = 0;      // bytes held by tensors now
  double max_allocated = 0;  // the most held by tensors since the start (or the last reset)
  double max_reserved = 0;   // the most bytes the allocator has held from the driver
};

// Zeros off CUDA (the CPU build, or a CPU device).
DeviceMemory read_device_memory(at::Device device);

// Starts the two maxima afresh (a benchmark's timed part); no-op off CUDA.
void reset_peak_device_memory(at::Device device);

}  // namespace hetero
