// Squared ReLU, max(u, 0)^2 (Nemotron-H's MLP and MoE experts),
// differentiable. On CUDA, for the shapes its kernels take
// (squared_relu_kernel_supports), a Function whose forward and backward are
// one pass each (kernels/squared_relu.cu), with ATen's bf16 results
// bit for bit; elsewhere at::relu(u).pow(2), the reference.
#pragma once

#include <ATen/ATen.h>

namespace hetero {

at::Tensor squared_relu(const at::Tensor& u);

// du = dh * 2 max(u, 0), the gradient of squared_relu at u, for code that
// computes it outside autograd (a Function recomputing its activation);
// one kernel pass where both tensors are squared_relu_kernel_supports.
at::Tensor squared_relu_backward(const at::Tensor& dh, const at::Tensor& u);

// What the CUDA kernels take: bf16, contiguous, 16-byte aligned, a multiple of 8 elements.
bool squared_relu_kernel_supports(const at::Tensor& u);

}  // namespace hetero
