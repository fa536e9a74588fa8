// The exact GELU's backward with the activation recomputed in the same pass,
// for an MLP that keeps only the pre-activation u for its backward
// (ActivateThenProject in transformer_block.cpp): du = dh * gelu'(u) and
// h = gelu(u), which ATen computes as two passes over [tokens, ffn]. On CUDA
// a hand-written kernel (kernels/gelu_backward.cu); on CPU tensors a loop
// over the same per-element math (kernels/gelu_math.h), which tests compare
// with ATen's gelu and gelu_backward. Not differentiable: it runs inside a
// backward.
#pragma once

#include <ATen/ATen.h>

namespace hetero {

struct GeluBackward {
  at::Tensor du, h;  // like u
};

// dh and u of one shape and dtype. CUDA tensors must pass
// gelu_backward_kernel_supports; CPU tensors may be fp32 or bf16.
GeluBackward gelu_backward_with_activation(const at::Tensor& dh, const at::Tensor& u);

// What the CUDA kernel takes: bf16, contiguous, 16-byte aligned, a multiple of 8 elements.
bool gelu_backward_kernel_supports(const at::Tensor& dh, const at::Tensor& u);

}  // namespace hetero
