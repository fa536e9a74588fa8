// at::Tensor wrappers of the SSD chunk-state input kernels (CUDA build only;
// ssd_state_input_launch.cpp). Shapes and dtypes as
// model/ssd_state_input.h, already checked; to_end contiguous, x's channel
// stride 1.
#pragma once

#include <ATen/ATen.h>

#include "kernels/ssd_state_input.h"

namespace hetero {

at::Tensor ssd_state_input_cuda(const at::Tensor& x, const at::Tensor& to_end, const SsdStateInputShape& shape);

// (dx [b, l, h, p] contiguous in x's dtype, d_to_end fp32 like to_end).
// Writes x's gradient into dx (laid out as shape.dx says); returns to_end's.
at::Tensor ssd_state_input_backward_cuda(const at::Tensor& d_weighted, const at::Tensor& x, const at::Tensor& to_end,
                                         at::Tensor& dx, const SsdStateInputShape& shape);

}  // namespace hetero
