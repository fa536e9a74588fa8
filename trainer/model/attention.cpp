#include "model/attention.h"

#include <cmath>
#include <limits>
#include <stdexcept>

#include "compat.h"
#include "model/packing.h"
#include "model/tp_ops.h"

namespace hetero {

at::Tensor causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
#if TORCH_VERSION_MAJOR >= 2
  return at::scaled_dot_product_attention(q, k, v, /*attn_mask=*/{}, /*dropout_p=*/0.0, /*is_causal=*/true);
#else
  // LibTorch 1.13 has no public fused attention.
  const int64_t len = q.size(2);
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(3)));
  const at::Tensor scores = at::matmul(q, k.transpose(-2, -1)).to(at::kFloat) * scale;
  const at::Tensor future = at::ones({len, len}, q.options().dtype(at::kBool)).triu(1);
  const at::Tensor probs = at::softmax(scores.masked_fill(future, -std::numeric_limits<float>::infinity()), -1);
  return at::matmul(probs.to(v.scalar_type()), v);
#endif
}

Attention::Attention(ParamSet& params, const std::string& prefix, const AttentionConfig& cfg, const Group& tp,
                     at::ScalarType compute)
    : SequenceMixer(tp, compute), cfg_(cfg) {
  if (cfg.heads % cfg.kv_heads != 0)
    throw std::invalid_argument("attention: num_key_value_heads=" + std::to_string(cfg.kv_heads) +
                                " does not divide num_attention_heads=" + std::to_string(cfg.heads));
  if (cfg.kv_heads % tp.size() != 0)
    throw std::invalid_argument("attention: tp=" + std::to_string(tp.size()) +
                                " does not divide num_key_value_heads=" + std::to_string(cfg.kv_heads));
  local_heads_ = cfg.heads / tp.size();
  local_kv_heads_ = cfg.kv_heads / tp.size();
  const double out_std = 0.02 / std::sqrt(2.0);
  wq_ = params.add(prefix + ".q_proj.weight", {cfg.heads * cfg.head_dim, cfg.hidden}, 0, Init::Normal);
  wk_ = params.add(prefix + ".k_proj.weight", {cfg.kv_heads * cfg.head_dim, cfg.hidden}, 0, Init::Normal);
  wv_ = params.add(prefix + ".v_proj.weight", {cfg.kv_heads * cfg.head_dim, cfg.hidden}, 0, Init::Normal);
  wo_ = params.add(prefix + ".o_proj.weight", {cfg.hidden, cfg.heads * cfg.head_dim}, 1, Init::Normal, out_std);
}

at::Tensor Attention::forward_partial(const at::Tensor& xi, const std::vector<int64_t>& cu_seqlens) const {
  const int64_t tokens = xi.size(0), d = cfg_.head_dim;
  // [T, heads * d] -> [S, heads, L, d]
  auto heads = [&](const at::Tensor& w, int64_t n) {
    const at::Tensor projected = weights_.linear(xi, w).view({tokens, n, d});
    return pad_packed(projected, cu_seqlens).permute({0, 2, 1, 3});
  };
  const at::Tensor q = heads(wq_, local_heads_);
  // Query head h reads kv head h / (heads / kv_heads), as HF repeat_kv.
  const int64_t group = local_heads_ / local_kv_heads_;
  const at::Tensor k = heads(wk_, local_kv_heads_).repeat_interleave(group, 1);
  const at::Tensor v = heads(wv_, local_kv_heads_).repeat_interleave(group, 1);
  const at::Tensor ctx = causal_attention(q, k, v).permute({0, 2, 1, 3});  // [S, L, heads, d]
  const at::Tensor packed = unpad_packed(ctx, cu_seqlens).reshape({tokens, local_heads_ * d});
  return weights_.linear(packed, wo_);
}

}  // namespace hetero
