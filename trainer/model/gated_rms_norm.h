// The Mamba mixer's gated RMSNorm as one fused, differentiable op (HF
// MambaRMSNormGated with norm_before_gate=False): per token and group of n
// channels,
//   gated = y * silu(z);  out = gated / sqrt(mean(gated^2) + eps) * w
// in fp32. On CUDA tensors it runs hand-written kernels
// (kernels/gated_rms_norm.cu) that read y and z once and keep only the
// per-row 1/rms for the backward; elsewhere a CPU loop over the same
// per-element math (kernels/gated_rms_norm.h), which tests compare with the
// ATen expression.
#pragma once

#include <cstdint>

#include <ATen/ATen.h>

#include "model/split_gradient.h"

namespace hetero {

// y [T, groups * n] fp32; z (the gate, fp32 or bf16) [T, groups * n] or
// [T, groups, n], its last dim contiguous and other strides free (a narrow
// of a projection needs no copy); w [groups * n] fp32. Returns [T, groups *
// n] in out_dtype (fp32 or bf16). Differentiable in y, z and w (dy and dw
// fp32, dz in z's dtype). On CUDA: n <= 2048. dz_into: where the backward
// writes dz (z then [T, groups, n], the part's shape), e.g. z's slice of its
// projection's gradient (model/split_gradient.h).
at::Tensor gated_rms_norm(const at::Tensor& y, const at::Tensor& z, const at::Tensor& w, int64_t groups, double eps,
                          at::ScalarType out_dtype, const GradientInto& dz_into = {});

// The same op without a gate: the plain RMSNorm x / sqrt(mean(x^2) + eps) * w
// over x's last dim, in fp32, written in out_dtype. For the LLM's norms,
// whose fp32 residual stream goes in and whose compute-dtype input of the
// next matmul comes out: one read of x forward, one of x and the output's
// gradient backward, only the per-row 1/rms saved (the ATen expression
// keeps several fp32 intermediates of x's size). x [..., H] fp32, w [H]
// fp32; dx and dw fp32. On CUDA only where rms_norm_fused_supported(x);
// elsewhere callers keep the ATen expression (rms_norm in
// transformer_block.h), which the CPU twin loop is tested against.
at::Tensor rms_norm_fused(const at::Tensor& x, const at::Tensor& w, double eps, at::ScalarType out_dtype);

// Whether the CUDA kernels take x: a CUDA build, x on CUDA, H <= 4096.
bool rms_norm_fused_supported(const at::Tensor& x);

}  // namespace hetero
