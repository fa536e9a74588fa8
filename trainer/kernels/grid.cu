#include "kernels/grid.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>

namespace hetero {
namespace {

constexpr int kMaxDevices = 64;

// The current device's multiprocessor count, read once per device. Where
// the runtime cannot say, an H100's count: the error it recorded is then
// returned by the launch that follows (cudaGetLastError).
int multiprocessors() {
  static std::atomic<int> counts[kMaxDevices] = {};
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || device < 0 || device >= kMaxDevices) return 132;
  int n = counts[device].load(std::memory_order_relaxed);
  if (n == 0) {
    if (cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device) != cudaSuccess || n <= 0) n = 132;
    counts[device].store(n, std::memory_order_relaxed);
  }
  return n;
}

}  // namespace

int device_multiprocessors() { return multiprocessors(); }

int64_t grid_stride_blocks(int64_t items, int64_t per_block, int blocks_per_sm) {
  const int64_t needed = (items + per_block - 1) / per_block;
  return std::max<int64_t>(1, std::min<int64_t>(needed, static_cast<int64_t>(multiprocessors()) * blocks_per_sm));
}

}  // namespace hetero
