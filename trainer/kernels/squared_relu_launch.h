// at::Tensor wrappers of the squared-ReLU kernels (CUDA build only;
// squared_relu_launch.cpp). Shapes and dtypes as model/squared_relu.h.
#pragma once

#include <ATen/ATen.h>

namespace hetero {

// h = max(u, 0)^2 like u: bf16, contiguous, numel % 8 == 0.
at::Tensor squared_relu_forward_cuda(const at::Tensor& u);
// du = dh * 2 max(u, 0) like u, dh alike.
at::Tensor squared_relu_backward_cuda(const at::Tensor& dh, const at::Tensor& u);

}  // namespace hetero
