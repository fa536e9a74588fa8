// The ATen expressions that the fused ops (model/chunk_scores.h,
// model/gated_rms_norm.h, model/causal_conv1d.h) replace on CUDA, as ssd_scan.cpp and
// mamba_mixer.cpp compute them on the CPU, with random inputs of the shapes
// they see there: the references of the fused-op tests.
#pragma once

#include <limits>
#include <vector>

#include <torch/torch.h>

#include "model/packing.h"

namespace hetero {

// CB [b,c,g,q,q], a_cum and dt [b,c,g,hg,q] -> scores [b,c,g,hg,q,q], fp32.
inline at::Tensor chunk_scores_reference(const at::Tensor& cb, const at::Tensor& a_cum, const at::Tensor& dt) {
  const int64_t q = cb.size(-1);
  const at::Tensor causal = at::ones({q, q}, dt.options().dtype(at::kBool)).tril();
  const at::Tensor diff = a_cum.unsqueeze(-1) - a_cum.unsqueeze(-2);
  const at::Tensor decay = at::exp(diff.masked_fill(causal.logical_not(), -std::numeric_limits<float>::infinity()));
  return cb.unsqueeze(3) * decay * dt.unsqueeze(-2);
}

struct ChunkScoreInputs {
  at::Tensor cb, a_cum, dt;  // leaves, requiring gradients
};

// a_cum as the scan makes it: the cumulative sum of dt * A (A < 0) within a chunk.
inline ChunkScoreInputs chunk_score_inputs(int64_t b, int64_t c, int64_t g, int64_t hg, int64_t q,
                                           const at::TensorOptions& f = {}) {
  ChunkScoreInputs in;
  in.cb = torch::randn({b, c, g, q, q}, f).set_requires_grad(true);
  in.dt = torch::nn::functional::softplus(torch::randn({b, c, g, hg, q}, f) - 1).detach().set_requires_grad(true);
  const at::Tensor A = -torch::rand({1, 1, g, hg, 1}, f) * 2 - 0.1;
  in.a_cum = (in.dt * A).cumsum(-1).detach().set_requires_grad(true);
  return in;
}

// y [T, groups * n] fp32, z [T, groups * n] or [T, groups, n], w [groups * n] fp32.
inline at::Tensor gated_rms_norm_reference(const at::Tensor& y, const at::Tensor& z, const at::Tensor& w,
                                           int64_t groups, double eps) {
  const int64_t tokens = y.size(0), width = y.size(1), n = width / groups;
  const at::Tensor gated = y.reshape({tokens, groups, n}) * at::silu(z.to(at::kFloat)).reshape({tokens, groups, n});
  return (gated * at::rsqrt(gated.pow(2).mean(-1, /*keepdim=*/true) + eps)).reshape({tokens, width}) * w;
}

// x [T, channels] or [T, groups, width], weight [channels, 1, K], bias
// [channels] -> [T, channels] fp32: pad the packed sequences, the causal
// depthwise conv1d (left zero padding K-1, first L outputs) and SiLU, as
// mamba_mixer.cpp does on the CPU, then back to packed tokens.
inline at::Tensor causal_conv1d_silu_reference(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                               const std::vector<int64_t>& cu_seqlens) {
  const int64_t tokens = x.size(0), kernel = weight.size(2);
  const at::Tensor padded = pad_packed(x.to(at::kFloat).reshape({tokens, -1}), cu_seqlens).transpose(1, 2);
  const int64_t len = padded.size(2);
  const at::Tensor conv = at::conv1d(padded, weight, bias, {1}, {kernel - 1}, {1}, padded.size(1));
  return unpad_packed(at::silu(conv.narrow(2, 0, len)).transpose(1, 2), cu_seqlens);
}

}  // namespace hetero
