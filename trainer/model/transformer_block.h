// A pre-norm transformer block with Megatron-style tensor parallelism:
// attention heads and FFN width are split across the tp group. The recipe's
// encoder section picks the variant (EncoderArch): RMSNorm or LayerNorm,
// linear biases or none, the MLP's activation. With layernorm + bias + gelu
// it is the block of transformers' RadioModel (C-RADIO), less the key bias,
// which cannot change its output (see the constructor).
#pragma once

#include <string>

#include <ATen/ATen.h>

#include "dist/comm.h"
#include "hetero/recipe.h"
#include "model/image_attention.h"
#include "model/params.h"

namespace hetero {

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps = 1e-5);

// A norm over the last dim: RMSNorm (weight) or LayerNorm (weight and bias).
struct Norm {
  at::Tensor weight, bias;  // bias: LayerNorm only
  bool layer_norm = false;
  double eps = 1e-5;
  at::Tensor operator()(const at::Tensor& x) const;
  // The same on `x` in a compute dtype (bf16), the weights through `w`: the
  // statistics are taken in fp32 and the result has x's dtype.
  at::Tensor operator()(const at::Tensor& x, const ComputeWeights& w) const;
};

// `prefix`.weight (ones) and, for arch.norm == layernorm, `prefix`.bias (zeros).
Norm add_norm(ParamSet& params, const std::string& prefix, int64_t width, const EncoderArch& arch);

// A bias vector that starts at zero and takes no weight decay, sharded along
// its only dim when shard_dim is 0 (a column-parallel layer's bias), else
// replicated (a row-parallel layer's bias, added once after the all-reduce).
at::Tensor add_zero_bias(ParamSet& params, const std::string& name, int64_t width, int shard_dim);

class TransformerBlock {
 public:
  // `compute`: the dtype of the block's activations, its residual stream,
  // matmuls and TP traffic (bf16 on GPUs, as Megatron's ViT runs without
  // fp32 residuals); norms take their statistics in fp32, and the weights
  // stay fp32 (the optimizer's main copy), used through bf16 copies made
  // once per optimizer step. Widths and the variant come from `arch` (hidden_size,
  // num_attention_heads, ffn_hidden_size, norm, norm_eps, bias,
  // mlp_activation).
  TransformerBlock(ParamSet& params, const std::string& prefix, const EncoderArch& arch, const Group& tp,
                   at::ScalarType compute);

  // x: [tokens, hidden] in the compute dtype, the packed images; each token
  // attends to the tokens of its own image only.
  at::Tensor forward(const at::Tensor& x, const PackedImages& images, AttentionKernel kernel) const;

  // The residual stream between blocks kept as two terms, h + pending
  // (pending undefined: h alone), so that the next block adds them inside
  // its first LayerNorm's fused kernel instead of in a pass of their own.
  struct Residual {
    at::Tensor h, pending;
    at::Tensor sum() const { return pending.defined() ? h + pending : h; }
  };
  // The block on in.sum(); returns {its input + attention, MLP} unsummed.
  Residual forward(const Residual& in, const PackedImages& images, AttentionKernel kernel) const;

 private:
  // Whether the residual add x + a and `norm` run as the fused kernels.
  bool fuses_add_norm(const at::Tensor& x, const at::Tensor& a, const Norm& norm) const;
  at::Tensor attention(const at::Tensor& x, const PackedImages& images, AttentionKernel kernel) const;
  at::Tensor mlp(const at::Tensor& x) const;
  at::Tensor row_parallel(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) const;

  const Group& tp_;
  at::ScalarType compute_;
  ComputeWeights weights_;  // bf16 copies of the weights, once per optimizer step
  int local_heads_, head_dim_;
  std::string activation_;
  Norm norm1_, norm2_;
  at::Tensor wq_, wk_, wv_, wo_, fc1_, fc2_;
  at::Tensor bq_, bv_, bo_, b1_, b2_;  // undefined without arch.bias (no key bias: see the constructor)
};

}  // namespace hetero
