// at::Tensor wrapper of the exact-GELU backward kernel (CUDA build only;
// gelu_backward_launch.cpp). Shapes and dtypes as model/gelu_backward.h.
#pragma once

#include <tuple>

#include <ATen/ATen.h>

namespace hetero {

// (du, h) like u, from dh and u: bf16, contiguous, numel % 8 == 0.
std::tuple<at::Tensor, at::Tensor> gelu_backward_with_activation_cuda(const at::Tensor& dh, const at::Tensor& u);

}  // namespace hetero
