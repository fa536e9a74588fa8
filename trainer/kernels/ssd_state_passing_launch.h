// at::Tensor wrappers of the SSD state-passing kernels (CUDA build only;
// ssd_state_passing_launch.cpp). Shapes and dtypes as
// model/ssd_state_passing.h, already checked; every tensor contiguous.
#pragma once

#include <utility>

#include <ATen/ATen.h>

#include "kernels/ssd_state_passing.h"

namespace hetero {

at::Tensor ssd_state_passing_cuda(const at::Tensor& own, const at::Tensor& chunk_log, const SsdStatePassingShape& shape);

// (d_own in own's dtype, d_chunk_log fp32 like chunk_log).
std::pair<at::Tensor, at::Tensor> ssd_state_passing_backward_cuda(const at::Tensor& d_entering, const at::Tensor& own,
                                                                  const at::Tensor& chunk_log,
                                                                  const SsdStatePassingShape& shape);

}  // namespace hetero
