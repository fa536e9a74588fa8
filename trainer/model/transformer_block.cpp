#include "model/transformer_block.h"

#include <cmath>
#include <stdexcept>
#include <utility>

#include <torch/csrc/autograd/custom_function.h>

#include "model/add_layer_norm.h"
#include "model/gelu_backward.h"
#include "model/squared_relu.h"
#include "model/tp_ops.h"

namespace hetero {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

enum Activation : int64_t { kGelu, kGeluTanh, kSquaredRelu };

Activation activation_code(const std::string& name) {
  if (name == "gelu") return kGelu;
  if (name == "gelu_tanh") return kGeluTanh;
  if (name == "squared_relu") return kSquaredRelu;
  throw std::invalid_argument("encoder mlp_activation '" + name + "' is not squared_relu, gelu or gelu_tanh");
}

at::Tensor activate(const at::Tensor& u, int64_t a) {
  if (a == kGelu) return at::gelu(u);
  if (a == kGeluTanh) return at::gelu(u, "tanh");
  return squared_relu(u);
}

// (du, h = activation(u)) from the activation's gradient dh and u.
std::pair<at::Tensor, at::Tensor> activation_backward(const at::Tensor& dh, const at::Tensor& u, int64_t a) {
  if (a == kGelu && gelu_backward_kernel_supports(dh, u)) {
    GeluBackward r = gelu_backward_with_activation(dh, u);  // one pass for both, on CUDA
    return {r.du, r.h};
  }
  const at::Tensor h = activate(u, a);
  if (a == kGelu) return {at::gelu_backward(dh, u), h};
  if (a == kGeluTanh) return {at::gelu_backward(dh, u, "tanh"), h};
  return {squared_relu_backward(dh, u), h};
}

// activation(u) @ w^T (+ bias, if given), keeping only u for the backward:
// the activation is recomputed there instead of holding [tokens, ffn] twice
// (the MLP's largest saved tensors). The gradients are the ones autograd
// takes through the ops. Given `masters` (w and the bias are then their
// compute copies, outside autograd: {w's master} or {w's, the bias's}), the
// backward adds their gradients into the masters' fp32 .grad
// (accumulate_weight_grad, accumulate_bias_grad) instead of returning them.
struct ActivateThenProject : public torch::autograd::Function<ActivateThenProject> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& u, const at::Tensor& w,
                            const c10::optional<at::Tensor>& bias, int64_t activation, at::TensorList masters) {
    variable_list saved{u, w};
    saved.insert(saved.end(), masters.begin(), masters.end());
    ctx->save_for_backward(saved);
    ctx->saved_data["activation"] = activation;
    ctx->saved_data["bias"] = bias.has_value();
    const at::Tensor h = activate(u, activation);
    return bias ? at::linear(h, w, *bias) : at::matmul(h, w.t());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list s = ctx->get_saved_variables();
    const at::Tensor &u = s[0], &w = s[1], &g = grads[0];
    const int64_t a = ctx->saved_data["activation"].toInt();
    const bool has_bias = ctx->saved_data["bias"].toBool();
    const at::Tensor dh = at::matmul(g, w);
    const auto [du, h] = activation_backward(dh, u, a);
    const at::Tensor g2 = g.reshape({-1, g.size(-1)}), h2 = h.reshape({-1, h.size(-1)});
    if (s.size() > 2) {
      if (s[2].requires_grad()) accumulate_weight_grad(s[2], g2, h2);
      if (has_bias && s[3].requires_grad()) accumulate_bias_grad(s[3], bias_grad_fp32(g2));
      variable_list out{du, at::Tensor(), at::Tensor(), at::Tensor()};
      out.resize(out.size() + s.size() - 2);  // already in the masters' .grad
      return out;
    }
    return {du, at::matmul(g2.t(), h2), has_bias ? bias_grad(g2) : at::Tensor(), at::Tensor()};
  }
};

// ActivateThenProject with w = master and the bias (its fp32 master, or
// undefined) through `weights`.
at::Tensor activate_then_project(const at::Tensor& u, const at::Tensor& master, const at::Tensor& bias,
                                 int64_t activation, const ComputeWeights& weights) {
  if (weights.accumulates_in_gemm(master)) {
    if (!bias.defined())
      return ActivateThenProject::apply(u, weights.copy(master), c10::nullopt, activation, at::TensorList(master));
    return ActivateThenProject::apply(u, weights.copy(master), weights.copy(bias), activation,
                                      at::TensorList({master, bias}));
  }
  const c10::optional<at::Tensor> b = bias.defined() ? c10::make_optional(weights(bias)) : c10::nullopt;
  return ActivateThenProject::apply(u, weights(master), b, activation, at::TensorList());
}

}  // namespace

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  return x * at::rsqrt(x.pow(2).mean({-1}, /*keepdim=*/true) + eps) * weight;
}

at::Tensor Norm::operator()(const at::Tensor& x) const {
  if (layer_norm) return at::layer_norm(x, {weight.size(0)}, weight, bias, eps);
  return rms_norm(x, weight, eps);
}

at::Tensor Norm::operator()(const at::Tensor& x, const ComputeWeights& w) const {
  if (x.scalar_type() == at::kFloat) return (*this)(x);
  // LayerNorm's kernel accumulates in fp32 whatever its input; RMSNorm here
  // is plain ops, so it runs on an fp32 copy.
  if (layer_norm) return at::layer_norm(x, {weight.size(0)}, w(weight), w(bias), eps);
  return rms_norm(x.to(at::kFloat), weight, eps).to(x.scalar_type());
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
      weights_(compute),
      local_heads_(arch.num_attention_heads / tp.size()),
      head_dim_(arch.hidden_size / arch.num_attention_heads),
      activation_(arch.mlp_activation) {
  const int hidden = arch.hidden_size, ffn = arch.ffn_hidden_size;
  activation_code(activation_);  // validates
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

// A row-parallel projection's partial sums over tp, summed, plus its bias.
// At tp = 1 the bias rides in the GEMM's epilogue instead of a pass of its own.
at::Tensor TransformerBlock::row_parallel(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) const {
  if (tp_.size() == 1) return weights_.linear(x, w, b);
  const at::Tensor out = leave_tp_region(weights_.linear(x, w), tp_);
  return b.defined() ? out + weights_(b) : out;
}

at::Tensor TransformerBlock::attention(const at::Tensor& x, const PackedImages& images, AttentionKernel kernel) const {
  const auto t = x.size(0);
  const at::Tensor xi = enter_tp_region(x, tp_);
  // One GEMM for the three projections: their weights stacked [3, local
  // width, hidden] (one cached compute copy), the key's bias rows zero.
  const std::vector<at::Tensor> biases =
      bq_.defined() ? std::vector<at::Tensor>{bq_, at::Tensor(), bv_} : std::vector<at::Tensor>{};
  const at::Tensor qkv = weights_.linear(xi, {wq_, wk_, wv_}, biases).view({t, 3, local_heads_, head_dim_});
  // unbind, not three selects: its backward stacks the three gradients in
  // one pass instead of zero-filling [t, 3, ...] and copying into it thrice.
  const std::vector<at::Tensor> q_k_v = qkv.unbind(1);
  const at::Tensor ctx = image_attention(q_k_v[0], q_k_v[1], q_k_v[2], images, kernel);
  return row_parallel(ctx.reshape({t, -1}), wo_, bo_);
}

at::Tensor TransformerBlock::mlp(const at::Tensor& x) const {
  const at::Tensor xi = enter_tp_region(x, tp_);
  const at::Tensor u = weights_.linear(xi, fc1_, b1_);
  const int64_t a = activation_code(activation_);
  // At tp = 1 the down projection's bias rides in its GEMM (as row_parallel).
  if (tp_.size() == 1) return activate_then_project(u, fc2_, b2_, a, weights_);
  const at::Tensor out = leave_tp_region(activate_then_project(u, fc2_, at::Tensor(), a, weights_), tp_);
  return b2_.defined() ? out + weights_(b2_) : out;
}

// On CUDA a LayerNorm's residual add, norm and their backward run fused
// where its kernels take the shape; elsewhere the ATen ops (the reference).
bool TransformerBlock::fuses_add_norm(const at::Tensor& x, const at::Tensor& a, const Norm& norm) const {
  return norm.layer_norm && add_layer_norm_supported(x) && add_layer_norm_supported(a);
}

TransformerBlock::Residual TransformerBlock::forward(const Residual& in, const PackedImages& images,
                                                     AttentionKernel kernel) const {
  at::Tensor x, normed;
  if (in.pending.defined() && fuses_add_norm(in.h, in.pending, norm1_)) {
    auto [h, y] = add_layer_norm(in.h, in.pending, norm1_.weight, norm1_.bias, norm1_.eps);
    x = h, normed = y;
  } else {
    x = in.sum();
    normed = norm1_(x, weights_);
  }
  const at::Tensor attn_out = attention(normed, images, kernel);
  if (fuses_add_norm(x, attn_out, norm2_)) {
    auto [h, y] = add_layer_norm(x, attn_out, norm2_.weight, norm2_.bias, norm2_.eps);
    return {h, mlp(y)};
  }
  const at::Tensor h = x + attn_out;
  return {h, mlp(norm2_(h, weights_))};
}

at::Tensor TransformerBlock::forward(const at::Tensor& x, const PackedImages& images, AttentionKernel kernel) const {
  return forward(Residual{x, at::Tensor()}, images, kernel).sum();
}

}  // namespace hetero
