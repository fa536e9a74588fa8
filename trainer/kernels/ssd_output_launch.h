// at::Tensor wrappers of the SSD output kernels (CUDA build only;
// ssd_output_launch.cpp). Shapes and dtypes as model/ssd_output.h, already
// checked; y_intra, y_inter, a_cum contiguous, x's channel stride 1.
#pragma once

#include <ATen/ATen.h>

#include "kernels/ssd_output.h"

namespace hetero {

at::Tensor ssd_output_cuda(const at::Tensor& y_intra, const at::Tensor& y_inter, const at::Tensor& a_cum,
                           const at::Tensor& x, const at::Tensor& D, const SsdOutputShape& shape);

struct SsdOutputGrads {
  at::Tensor d_y_intra, d_y_inter, d_a_cum, dx, dD;  // dD undefined without D
};

// x's gradient goes into dx (laid out as shape.dx says), returned as .dx.
SsdOutputGrads ssd_output_backward_cuda(const at::Tensor& dy, const at::Tensor& y_inter, const at::Tensor& a_cum,
                                        const at::Tensor& x, const at::Tensor& D, const at::Tensor& dx,
                                        const SsdOutputShape& shape);

}  // namespace hetero
