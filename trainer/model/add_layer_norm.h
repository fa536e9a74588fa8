// The vision encoder block's residual add and the LayerNorm after it as one
// fused, differentiable op: per row (token) of H channels,
//   h = x + a;  y = (h - mean(h)) / sqrt(var(h) + eps) * gamma + beta
// with the statistics in fp32 (biased variance, as ATen's layer_norm) and h,
// y in x's dtype. On CUDA tensors it runs hand-written kernels
// (kernels/add_layer_norm.cu) that read x and a once, read the fp32 gamma
// and beta directly (no compute-dtype copies) and, in the backward, add the
// residual path's gradient and reduce d_gamma, d_beta in the same pass;
// elsewhere a CPU loop over the same per-element math
// (kernels/add_layer_norm.h), which tests compare with the ATen expression.
#pragma once

#include <ATen/ATen.h>

namespace hetero {

struct AddLayerNorm {
  at::Tensor h;  // x + a, the residual stream
  at::Tensor y;  // layer_norm(h) * gamma + beta
};

// x, a [..., H], the same shape and dtype (fp32 or bf16), contiguous; gamma,
// beta [H] fp32 (the masters: their gradients are fp32). Differentiable in
// all four; x and a get the same gradient (that of h, the LayerNorm's
// included). On CUDA only where add_layer_norm_supported(x).
AddLayerNorm add_layer_norm(const at::Tensor& x, const at::Tensor& a, const at::Tensor& gamma, const at::Tensor& beta,
                            double eps);

// Whether the CUDA kernels take x: a CUDA build, x a contiguous fp32 or bf16
// CUDA tensor at a 16-byte aligned address, H % 8 == 0 and H <= 4096.
// Elsewhere callers keep the ATen ops (x + a, at::layer_norm).
bool add_layer_norm_supported(const at::Tensor& x);

}  // namespace hetero
