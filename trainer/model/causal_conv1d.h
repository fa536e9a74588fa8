// The Mamba mixer's causal depthwise conv1d + bias + SiLU as one fused,
// differentiable op over packed tokens (THD, model/packing.h): per token t
// of a sequence and channel c,
//   out[t, c] = silu(bias[c] + sum_k weight[c, 0, k] * x[t - (K-1) + k, c])
// with the taps before the sequence's start reading zero, in fp32. On CUDA
// tensors it runs hand-written kernels (kernels/causal_conv1d.cu) in the
// tokens' own [T, channels] layout (no padding, no transposes) and
// recomputes the pre-activation in the backward; elsewhere a CPU loop over
// the same per-element math (kernels/causal_conv1d.h), which tests compare
// with the ATen expression (pad_packed + conv1d + silu).
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "model/split_gradient.h"

namespace hetero {

// x (fp32 or bf16) [T, groups, width] with its last dim contiguous and other
// strides free (a narrow of a projection needs no copy), or [T, channels]
// with its last dim contiguous; channel c = group * width + j. weight
// [channels, 1, K] and bias [channels] fp32 (the masters), 1 <= K <= 8;
// cu_seqlens {0, ..., T}. Returns [T, channels] in out_dtype (fp32 or bf16).
// Differentiable in x, weight and bias (dx in x's dtype, dw and db fp32).
// dx_into: where the backward writes dx (x then [T, groups, width], the
// part's shape), e.g. x's slice of its projection's gradient
// (model/split_gradient.h).
at::Tensor causal_conv1d_silu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                              const std::vector<int64_t>& cu_seqlens, at::ScalarType out_dtype,
                              const GradientInto& dx_into = {});

}  // namespace hetero
