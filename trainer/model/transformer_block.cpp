#include "model/transformer_block.h"

#include <cmath>
#include <limits>
#include <stdexcept>

#include "model/tp_ops.h"

namespace hetero {
namespace {

// x @ w^T (+ b) in the compute dtype.
at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, at::ScalarType compute) {
  return b.defined() ? at::linear(x, w.to(compute), b.to(compute)) : at::matmul(x, w.to(compute).t());
}

}  // namespace

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  return x * at::rsqrt(x.pow(2).mean({-1}, /*keepdim=*/true) + eps) * weight;
}

at::Tensor Norm::operator()(const at::Tensor& x) const {
  if (layer_norm) return at::layer_norm(x, {weight.size(0)}, weight, bias, eps);
  return rms_norm(x, weight, eps);
}

Norm add_norm(ParamSet& params, const std::string& prefix, int64_t width, const EncoderArch& arch) {
  Norm n;
  n.layer_norm = arch.norm == "layernorm";
  n.eps = arch.norm_eps;
  n.weight = params.add(prefix + ".weight", {width}, -1, Init::Ones);
  if (n.layer_norm) n.bias = add_zero_bias(params, prefix + ".bias", width, -1);
  return n;
}

at::Tensor add_zero_bias(ParamSet& params, const std::string& name, int64_t width, int shard_dim) {
  // Init has no Zeros: a ones-initialised parameter (so without weight
  // decay, like the norms) is zeroed in place, the same on every layout.
  at::Tensor b = params.add(name, {width}, shard_dim, Init::Ones);
  at::NoGradGuard no_grad;
  b.zero_();
  return b;
}

TransformerBlock::TransformerBlock(ParamSet& params, const std::string& prefix, const EncoderArch& arch,
                                   const Group& tp, at::ScalarType compute)
    : tp_(tp),
      compute_(compute),
      local_heads_(arch.num_attention_heads / tp.size()),
      head_dim_(arch.hidden_size / arch.num_attention_heads),
      activation_(arch.mlp_activation) {
  const int hidden = arch.hidden_size, ffn = arch.ffn_hidden_size;
  if (activation_ != "squared_relu" && activation_ != "gelu" && activation_ != "gelu_tanh")
    throw std::invalid_argument("encoder mlp_activation '" + activation_ + "' is not squared_relu, gelu or gelu_tanh");
  const double out_std = 0.02 / std::sqrt(2.0);
  norm1_ = add_norm(params, prefix + ".attn_norm", hidden, arch);
  wq_ = params.add(prefix + ".attn.q_proj.weight", {hidden, hidden}, 0, Init::Normal);
  wk_ = params.add(prefix + ".attn.k_proj.weight", {hidden, hidden}, 0, Init::Normal);
  wv_ = params.add(prefix + ".attn.v_proj.weight", {hidden, hidden}, 0, Init::Normal);
  wo_ = params.add(prefix + ".attn.o_proj.weight", {hidden, hidden}, 1, Init::Normal, out_std);
  norm2_ = add_norm(params, prefix + ".mlp_norm", hidden, arch);
  fc1_ = params.add(prefix + ".mlp.up_proj.weight", {ffn, hidden}, 0, Init::Normal);
  fc2_ = params.add(prefix + ".mlp.down_proj.weight", {hidden, ffn}, 1, Init::Normal, out_std);
  if (arch.bias) {
    // Column-parallel layers (q, v, up) keep their bias rows with their
    // weight rows; row-parallel ones (o, down) add theirs once, after the
    // all-reduce of the partial sums. There is no key bias: it adds q . b_k
    // to every score of a query alike, which the softmax cancels, so its
    // gradient is zero up to rounding noise (and the count of exactly-zero
    // gradients would depend on the layout). Checkpoints' key biases are
    // ignored on load and written as zeros on export.
    bq_ = add_zero_bias(params, prefix + ".attn.q_proj.bias", hidden, 0);
    bv_ = add_zero_bias(params, prefix + ".attn.v_proj.bias", hidden, 0);
    bo_ = add_zero_bias(params, prefix + ".attn.o_proj.bias", hidden, -1);
    b1_ = add_zero_bias(params, prefix + ".mlp.up_proj.bias", ffn, 0);
    b2_ = add_zero_bias(params, prefix + ".mlp.down_proj.bias", hidden, -1);
  }
}

at::Tensor TransformerBlock::attention(const at::Tensor& x, const at::Tensor& allowed) const {
  const auto b = x.size(0), t = x.size(1);
  const at::Tensor xi = enter_tp_region(x.to(compute_), tp_);
  auto heads = [&](const at::Tensor& w, const at::Tensor& bias) {
    return linear(xi, w, bias, compute_).view({b, t, local_heads_, head_dim_}).transpose(1, 2);
  };
  const at::Tensor q = heads(wq_, bq_), k = heads(wk_, at::Tensor()), v = heads(wv_, bv_);
  // Scores and softmax in fp32.
  at::Tensor scores = at::matmul(q, k.transpose(-2, -1)).to(at::kFloat) / std::sqrt(static_cast<double>(head_dim_));
  scores = scores.masked_fill(allowed.logical_not().unsqueeze(1), -std::numeric_limits<float>::infinity());
  const at::Tensor probs = at::softmax(scores, -1).to(compute_);
  const at::Tensor ctx = at::matmul(probs, v).transpose(1, 2).reshape({b, t, -1});
  const at::Tensor out = leave_tp_region(at::matmul(ctx, wo_.to(compute_).t()), tp_).to(at::kFloat);
  return bo_.defined() ? out + bo_ : out;
}

at::Tensor TransformerBlock::mlp(const at::Tensor& x) const {
  const at::Tensor xi = enter_tp_region(x.to(compute_), tp_);
  const at::Tensor u = linear(xi, fc1_, b1_, compute_);
  at::Tensor h;
  if (activation_ == "gelu")
    h = at::gelu(u);
  else if (activation_ == "gelu_tanh")
    h = at::gelu(u, "tanh");
  else
    h = at::relu(u).pow(2);  // squared ReLU, as Nemotron-H
  const at::Tensor out = leave_tp_region(at::matmul(h, fc2_.to(compute_).t()), tp_).to(at::kFloat);
  return b2_.defined() ? out + b2_ : out;
}

at::Tensor TransformerBlock::forward(const at::Tensor& x, const at::Tensor& allowed) const {
  const at::Tensor h = x + attention(norm1_(x), allowed);
  return h + mlp(norm2_(h));
}

}  // namespace hetero
