#include "model/transformer_block.h"

#include <cmath>

#include "model/tp_ops.h"

namespace hetero {

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  return x * at::rsqrt(x.pow(2).mean({-1}, /*keepdim=*/true) + eps) * weight;
}

TransformerBlock::TransformerBlock(ParamSet& params, const std::string& prefix, int hidden, int heads, int ffn,
                                   const Group& tp, at::ScalarType compute)
    : tp_(tp), compute_(compute), local_heads_(heads / tp.size()), head_dim_(hidden / heads) {
  const double out_std = 0.02 / std::sqrt(2.0);
  norm1_ = params.add(prefix + ".attn_norm.weight", {hidden}, -1, Init::Ones);
  wq_ = params.add(prefix + ".attn.q_proj.weight", {hidden, hidden}, 0, Init::Normal);
  wk_ = params.add(prefix + ".attn.k_proj.weight", {hidden, hidden}, 0, Init::Normal);
  wv_ = params.add(prefix + ".attn.v_proj.weight", {hidden, hidden}, 0, Init::Normal);
  wo_ = params.add(prefix + ".attn.o_proj.weight", {hidden, hidden}, 1, Init::Normal, out_std);
  norm2_ = params.add(prefix + ".mlp_norm.weight", {hidden}, -1, Init::Ones);
  fc1_ = params.add(prefix + ".mlp.up_proj.weight", {ffn, hidden}, 0, Init::Normal);
  fc2_ = params.add(prefix + ".mlp.down_proj.weight", {hidden, ffn}, 1, Init::Normal, out_std);
}

at::Tensor TransformerBlock::attention(const at::Tensor& x, const at::Tensor& allowed) const {
  const auto b = x.size(0), t = x.size(1);
  const at::Tensor xi = enter_tp_region(x.to(compute_), tp_);
  auto heads = [&](const at::Tensor& w) {
    return at::matmul(xi, w.to(compute_).t()).view({b, t, local_heads_, head_dim_}).transpose(1, 2);
  };
  const at::Tensor q = heads(wq_), k = heads(wk_), v = heads(wv_);
  // Scores and softmax in fp32.
  at::Tensor scores = at::matmul(q, k.transpose(-2, -1)).to(at::kFloat) / std::sqrt(static_cast<double>(head_dim_));
  scores = scores.masked_fill(allowed.logical_not().unsqueeze(1), -std::numeric_limits<float>::infinity());
  const at::Tensor probs = at::softmax(scores, -1).to(compute_);
  const at::Tensor ctx = at::matmul(probs, v).transpose(1, 2).reshape({b, t, -1});
  return leave_tp_region(at::matmul(ctx, wo_.to(compute_).t()), tp_).to(at::kFloat);
}

at::Tensor TransformerBlock::mlp(const at::Tensor& x) const {
  const at::Tensor xi = enter_tp_region(x.to(compute_), tp_);
  const at::Tensor h = at::relu(at::matmul(xi, fc1_.to(compute_).t())).pow(2);  // squared ReLU, as Nemotron-H
  return leave_tp_region(at::matmul(h, fc2_.to(compute_).t()), tp_).to(at::kFloat);
}

at::Tensor TransformerBlock::forward(const at::Tensor& x, const at::Tensor& allowed) const {
  const at::Tensor h = x + attention(rms_norm(x, norm1_), allowed);
  return h + mlp(rms_norm(h, norm2_));
}

}  // namespace hetero
