#include "model/mamba_mixer.h"

#include <cmath>
#include <stdexcept>
#include <vector>

#include "model/causal_conv1d.h"
#include "model/gated_rms_norm.h"
#include "model/packing.h"
#include "model/split_gradient.h"
#include "model/ssd_scan.h"
#include "model/tp_ops.h"

namespace hetero {
namespace {

void no_decay(ParamSet& params) { params.params().back().decay = false; }

}  // namespace

std::vector<int64_t> mamba_in_proj_rows_in_hf(const MambaConfig& c) {
  const int64_t hp = c.inner(), gn = c.groups * c.state, per_group = c.heads / c.groups;
  const int64_t hgp = per_group * c.head_dim;
  std::vector<int64_t> rows;
  for (int64_t g = 0; g < c.groups; ++g) {
    for (int64_t i = 0; i < hgp; ++i) rows.push_back(g * hgp + i);                      // z
    for (int64_t i = 0; i < hgp; ++i) rows.push_back(hp + g * hgp + i);                 // x
    for (int64_t i = 0; i < c.state; ++i) rows.push_back(2 * hp + g * c.state + i);      // B
    for (int64_t i = 0; i < c.state; ++i) rows.push_back(2 * hp + gn + g * c.state + i); // C
    for (int64_t i = 0; i < per_group; ++i) rows.push_back(2 * hp + 2 * gn + g * per_group + i);  // dt
  }
  return rows;
}

std::vector<int64_t> mamba_conv_channels_in_hf(const MambaConfig& c) {
  const int64_t hp = c.inner(), gn = c.groups * c.state, hgp = c.heads / c.groups * c.head_dim;
  std::vector<int64_t> channels;
  for (int64_t g = 0; g < c.groups; ++g) {
    for (int64_t i = 0; i < hgp; ++i) channels.push_back(g * hgp + i);
    for (int64_t i = 0; i < c.state; ++i) channels.push_back(hp + g * c.state + i);
    for (int64_t i = 0; i < c.state; ++i) channels.push_back(hp + gn + g * c.state + i);
  }
  return channels;
}

MambaMixer::MambaMixer(ParamSet& params, const std::string& prefix, const MambaConfig& cfg, const Group& tp,
                       at::ScalarType compute)
    : SequenceMixer(tp, compute), cfg_(cfg) {
  if (cfg.heads % cfg.groups != 0)
    throw std::invalid_argument("mamba: n_groups=" + std::to_string(cfg.groups) +
                                " does not divide mamba_num_heads=" + std::to_string(cfg.heads));
  if (cfg.groups % tp.size() != 0)
    throw std::invalid_argument("mamba: tp=" + std::to_string(tp.size()) + " does not divide n_groups=" +
                                std::to_string(cfg.groups));
  local_heads_ = cfg.heads / tp.size();
  local_groups_ = cfg.groups / tp.size();
  const int64_t h = cfg.heads, k = cfg.conv_kernel;
  in_proj_ = params.add(prefix + ".in_proj.weight", {cfg.in_proj_rows(), cfg.hidden}, 0, Init::Normal);
  // PyTorch's default for a depthwise conv: uniform with bound 1/sqrt(K), i.e. std 1/sqrt(3K).
  conv_w_ = params.add(prefix + ".conv1d.weight", {cfg.conv_channels(), 1, k}, 0, Init::Normal, 1 / std::sqrt(3.0 * k));
  conv_b_ = params.add(prefix + ".conv1d.bias", {cfg.conv_channels()}, 0, Init::Normal, 0.0);  // zeros
  no_decay(params);
  dt_bias_ = params.add(prefix + ".dt_bias", {h}, 0, Init::Normal, 1.0);
  no_decay(params);
  A_log_ = params.add(prefix + ".A_log", {h}, 0, Init::Ones);
  D_ = params.add(prefix + ".D", {h}, 0, Init::Ones);
  norm_w_ = params.add(prefix + ".norm.weight", {cfg.inner()}, 0, Init::Ones);
  out_proj_ = params.add(prefix + ".out_proj.weight", {cfg.hidden, cfg.inner()}, 1, Init::Normal, 0.02 / std::sqrt(2.0));

  at::NoGradGuard no_grad;
  // dt_bias: each standard normal draw z (topology-independent, from the
  // ParamSet) becomes a uniform u = Phi(z), then dt = exp(u-th point between
  // log dt_min and log dt_max), floored, then softplus^-1(dt) = dt + log(-expm1(-dt)).
  const at::Tensor u = 0.5 * at::erfc(-dt_bias_ / std::sqrt(2.0));
  const at::Tensor dt =
      at::exp(u * (std::log(cfg.dt_max) - std::log(cfg.dt_min)) + std::log(cfg.dt_min)).clamp_min(cfg.dt_floor);
  dt_bias_.copy_(dt + at::log(-at::expm1(-dt)));
  // A_log = log(1..H) over the global heads (HF, Mamba-2 S4D-real init).
  const int64_t first = tp.rank * local_heads_;
  A_log_.copy_(at::log(at::arange(first + 1, first + local_heads_ + 1, A_log_.options().requires_grad(false))));
}

at::Tensor MambaMixer::forward_partial(const at::Tensor& xi, const std::vector<int64_t>& cu_seqlens) const {
  check_cu_seqlens(cu_seqlens, xi.size(0));
  const int64_t tokens = xi.size(0), p = cfg_.head_dim, n = cfg_.state, gl = local_groups_, hl = local_heads_;
  const int64_t per_group = cfg_.heads / cfg_.groups, hgp = per_group * p;
  // [T, local groups, z_g | x_g B_g C_g | dt_g]
  const at::Tensor proj = weights_.linear(xi, in_proj_).view({tokens, gl, -1});
  // One split rather than three narrows (each narrow's backward zero-fills a
  // [T, gl, width] gradient of its own for autograd to sum), with one
  // gradient buffer: on CUDA the conv's and the norm's backward write dx_g
  // B_g C_g and dz_g into their slices of it, so no concatenation follows.
  const auto proj_grad =
      c10::make_intrusive<SplitGradientBuffer>(proj, std::vector<int64_t>{hgp, hgp + 2 * n, per_group});
  const std::vector<at::Tensor> parts = split_with_gradient_buffer(proj, proj_grad);
  const at::Tensor& z_groups = parts[0];    // [T, gl, hgp], strided
  const at::Tensor& xbc_groups = parts[1];  // [T, gl, hgp + 2n], strided
  const at::Tensor dt_raw = parts[2].reshape({tokens, hl});

  // Causal depthwise conv per sample (left zero padding K-1) and SiLU, as
  // xbc_act [S, L, gl, hgp + 2n]. On CUDA one fused op over the packed
  // tokens, reading x_g B_g C_g in place and the fp32 masters; elsewhere the
  // ATen ops it is tested against.
  at::Tensor xbc_act;
  if (xi.is_cuda()) {
    const at::Tensor act = causal_conv1d_silu(xbc_groups, conv_w_, conv_b_, cu_seqlens, compute_, {proj_grad, 1});
    xbc_act = pad_packed(act.view({tokens, gl, hgp + 2 * n}), cu_seqlens);
  } else {
    const at::Tensor xbc = xbc_groups.reshape({tokens, -1});
    const at::Tensor padded = pad_packed(xbc, cu_seqlens).transpose(1, 2);  // [S, channels, L]
    const at::Tensor conv = at::conv1d(padded, weights_(conv_w_), weights_(conv_b_), {1}, {cfg_.conv_kernel - 1},
                                       {1}, padded.size(1));
    const int64_t len = padded.size(2);
    xbc_act = at::silu(conv.narrow(2, 0, len)).transpose(1, 2).reshape({padded.size(0), len, gl, -1});
  }
  const int64_t len = xbc_act.size(1);
  const std::vector<at::Tensor> xbc_parts = at::split_with_sizes(xbc_act, {hgp, n, n}, 3);  // as above
  // x chunked for the scan, [S, c, q, hl, p] stored as its intra-chunk
  // matmul reads it: x's one copy.
  const at::Tensor xs = ssd_chunked_x(xbc_parts[0], p, cfg_.chunk);
  const at::Tensor& B = xbc_parts[1];  // [S, L, groups, n]: the scan reads them per group
  const at::Tensor& C = xbc_parts[2];

  at::Tensor dt = at::softplus(pad_packed(dt_raw, cu_seqlens).to(at::kFloat) + dt_bias_);  // [S, L, hl]
  if (cfg_.dt_clamp_min > 0) dt = dt.clamp_min(cfg_.dt_clamp_min);
  const at::Tensor A = -at::exp(A_log_.to(at::kFloat));
  const at::Tensor y = ssd_chunked_scan_grouped(xs, dt, A, B, C, cfg_.chunk, D_).narrow(1, 0, len);  // + xs * D

  // Gated RMSNorm per group, in fp32: norm(y * silu(z)) * weight. On CUDA one
  // fused op reading z in place; elsewhere the ATen ops it is tested against.
  if (y.is_cuda()) {
    const at::Tensor y_tokens = unpad_packed(y, cu_seqlens).reshape({tokens, gl * hgp});
    const at::Tensor normed = gated_rms_norm(y_tokens, z_groups, norm_w_, gl, cfg_.norm_eps, compute_, {proj_grad, 0});
    return weights_.linear(normed, out_proj_);
  }
  const at::Tensor z = z_groups.reshape({tokens, hl * p});
  const at::Tensor gated = unpad_packed(y, cu_seqlens).reshape({tokens, gl, hgp}) *
                           at::silu(z.to(at::kFloat)).view({tokens, gl, hgp});
  const at::Tensor normed =
      (gated * at::rsqrt(gated.pow(2).mean(-1, /*keepdim=*/true) + cfg_.norm_eps)).reshape({tokens, hl * p}) * norm_w_;
  return weights_.linear(normed.to(compute_), out_proj_);
}

}  // namespace hetero
