// The ATen expressions that the fused ops (model/chunk_scores.h,
// model/gated_rms_norm.h, model/causal_conv1d.h, model/ssd_output.h,
// model/ssd_state_input.h, model/ssd_state_passing.h) replace on CUDA, as ssd_scan.cpp and
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

// y [b, l, h, p] fp32 from the scan's products (y_intra [b,c,g,hg,q,p],
// y_inter [b,c,g,q,hg*p]), a_cum [b,c,g,hg,q], x [b,l,h,p] and D [h] (or
// undefined), as ssd_scan.cpp's ATen path computes it.
inline at::Tensor ssd_chunk_output_reference(const at::Tensor& y_intra, const at::Tensor& y_inter,
                                             const at::Tensor& a_cum, const at::Tensor& x, const at::Tensor& D) {
  const int64_t b = y_intra.size(0), c = y_intra.size(1), g = y_intra.size(2), hg = y_intra.size(3);
  const int64_t q = y_intra.size(4), p = y_intra.size(5), l = x.size(1), h = g * hg;
  const at::Tensor inter =
      y_inter.to(at::kFloat).view({b, c, g, q, hg, p}) * at::exp(a_cum).permute({0, 1, 2, 4, 3}).unsqueeze(-1);
  const at::Tensor y = (y_intra.permute({0, 1, 2, 4, 3, 5}).to(at::kFloat) + inter)
                           .permute({0, 1, 3, 2, 4, 5})
                           .reshape({b, c * q, h, p})
                           .narrow(1, 0, l);
  return D.defined() ? y + x.to(at::kFloat) * D.view({1, 1, h, 1}) : y;
}

struct SsdOutputInputs {
  at::Tensor y_intra, y_inter, a_cum, x, D;  // leaves requiring gradients (D undefined if not wanted)
};

inline SsdOutputInputs ssd_output_inputs(int64_t b, int64_t c, int64_t g, int64_t hg, int64_t q, int64_t p, int64_t l,
                                         bool with_d, const at::TensorOptions& f = {}) {
  SsdOutputInputs in;
  in.y_intra = torch::randn({b, c, g, hg, q, p}, f).set_requires_grad(true);
  in.y_inter = torch::randn({b, c, g, q, hg * p}, f).set_requires_grad(true);
  in.a_cum = (-torch::rand({b, c, g, hg, q}, f) * 3).cumsum(-1).detach().set_requires_grad(true);
  in.x = torch::randn({b, l, g * hg, p}, f).set_requires_grad(true);
  if (with_d) in.D = (torch::rand({g * hg}, f) + 0.5).set_requires_grad(true);
  return in;
}

// The chunk-state input [b, c, g, q, hg * p] from x [b, l, h, p] and to_end
// [b, c, g, hg, q], as ssd_scan.cpp's ATen path computes it (x zero-padded to c * q steps).
inline at::Tensor ssd_state_input_reference(const at::Tensor& x, const at::Tensor& to_end) {
  const int64_t b = x.size(0), l = x.size(1), p = x.size(3);
  const int64_t c = to_end.size(1), g = to_end.size(2), hg = to_end.size(3), q = to_end.size(4);
  const at::Tensor padded = at::constant_pad_nd(x, {0, 0, 0, 0, 0, c * q - l});
  const at::Tensor xg = padded.reshape({b, c, q, g, hg, p}).permute({0, 1, 3, 2, 4, 5});
  return (xg * to_end.permute({0, 1, 2, 4, 3}).unsqueeze(-1)).to(x.scalar_type()).reshape({b, c, g, q, hg * p});
}

// own [b, c, g, m, hg, w], chunk_log [b, c, g, hg] -> the state each chunk
// starts from, like own, as ssd_scan.cpp's CPU path computes it:
// entering_k = sum_{j<k} exp(G_{k-1} - G_j) own_j (G the cumulative
// chunk_log), one masked [c, c] matmul per (b, head), in fp32.
inline at::Tensor ssd_state_passing_reference(const at::Tensor& own, const at::Tensor& chunk_log) {
  const int64_t b = own.size(0), c = own.size(1), g = own.size(2), m = own.size(3), hg = own.size(4), w = own.size(5);
  const at::Tensor log_by_head = chunk_log.permute({0, 2, 3, 1});  // [b, g, hg, c]
  const at::Tensor G = log_by_head.cumsum(-1);
  const at::Tensor earlier = at::ones({c, c}, chunk_log.options().dtype(at::kBool)).tril(-1);
  const at::Tensor exponent = (G - log_by_head).unsqueeze(-1) - G.unsqueeze(-2);  // [b, g, hg, k, j]
  const at::Tensor carry = at::exp(exponent.masked_fill(earlier.logical_not(), -std::numeric_limits<float>::infinity()));
  const at::Tensor by_head = own.to(at::kFloat).permute({0, 2, 4, 1, 3, 5}).reshape({b, g, hg, c, m * w});
  return at::matmul(carry, by_head).view({b, g, hg, c, m, w}).permute({0, 3, 1, 4, 2, 5}).to(own.scalar_type());
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
