// A pre-norm transformer block with Megatron-style tensor parallelism:
// attention heads and FFN width are split across the tp group.
#pragma once

#include <string>

#include <ATen/ATen.h>

#include "dist/comm.h"
#include "model/params.h"

namespace hetero {

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps = 1e-5);

class TransformerBlock {
 public:
  // `compute`: the dtype of matmuls and TP traffic (bf16 on GPUs); weights
  // stay fp32 (the optimizer's main copy) and the residual stream too.
  TransformerBlock(ParamSet& params, const std::string& prefix, int hidden, int heads, int ffn, const Group& tp,
                   at::ScalarType compute);

  // x: [B, T, hidden]; allowed: bool [B or 1, T, T], true where query t may
  // attend to key u.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& allowed) const;

 private:
  at::Tensor attention(const at::Tensor& x, const at::Tensor& allowed) const;
  at::Tensor mlp(const at::Tensor& x) const;

  const Group& tp_;
  at::ScalarType compute_;
  int local_heads_, head_dim_;
  at::Tensor norm1_, wq_, wk_, wv_, wo_, norm2_, fc1_, fc2_;
};

}  // namespace hetero
