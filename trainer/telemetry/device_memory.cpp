#include "telemetry/device_memory.h"

#ifdef HETERO_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace hetero {
namespace {
#ifdef HETERO_WITH_CUDA
c10::DeviceIndex index_of(at::Device device) { return device.index() < 0 ? 0 : device.index(); }
#endif
}  // namespace

DeviceMemory read_device_memory(at::Device device) {
  DeviceMemory m;
#ifdef HETERO_WITH_CUDA
  if (device.is_cuda()) {
    // Index 0 of each stat array is the aggregate over pool kinds.
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(index_of(device));
    m.allocated = static_cast<double>(stats.allocated_bytes[0].current);
    m.max_allocated = static_cast<double>(stats.allocated_bytes[0].peak);
    m.max_reserved = static_cast<double>(stats.reserved_bytes[0].peak);
  }
#endif
  (void)device;
  return m;
}

void reset_peak_device_memory(at::Device device) {
#ifdef HETERO_WITH_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(index_of(device));
#endif
  (void)device;
}

}  // namespace hetero
