// Host-built tensors (batches, indices, offsets) onto the compute device without
// blocking the host: from pinned memory, asynchronously, on CUDA (a plain
// copy from pageable memory waits for the stream to drain).
#pragma once

#include <ATen/ATen.h>
#include <c10/util/accumulate.h>

namespace hetero {

inline at::Tensor copy_to_device(const at::Tensor& host, at::Device device) {
  if (!device.is_cuda() || host.numel() == 0) return host.to(device);  // nothing to stage
  return (host.is_pinned() ? host : host.pin_memory()).to(device, /*non_blocking=*/true);
}

// An uninitialised host tensor to fill and then hand to copy_to_device:
// pinned where `device` is a GPU, so the copy needs no staging pass. The
// caching host allocator keeps the block until the copy has run.
inline at::Tensor host_staging(at::IntArrayRef sizes, at::ScalarType dtype, at::Device device) {
  const bool pinned = device.is_cuda() && c10::multiply_integers(sizes) > 0;
  return at::empty(sizes, at::TensorOptions().dtype(dtype).pinned_memory(pinned));
}

}  // namespace hetero
