// Host-built tensors (indices, offsets) onto the compute device without
// blocking the host: from pinned memory, asynchronously, on CUDA (a plain
// copy from pageable memory waits for the stream to drain).
#pragma once

#include <ATen/ATen.h>

namespace hetero {

inline at::Tensor copy_to_device(const at::Tensor& host, at::Device device) {
  if (!device.is_cuda()) return host.to(device);
  return host.pin_memory().to(device, /*non_blocking=*/true);
}

}  // namespace hetero
