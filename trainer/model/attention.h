// Nemotron-H self-attention (design §6): grouped-query attention (GQA),
// causal, over packed sequences (THD) with no attention across samples,
// no positional encoding inside the layer (as HF NemotronHAttention), no
// biases. Tensor parallelism splits query heads and kv heads over `tp`:
// q/k/v_proj column-parallel, o_proj row-parallel, summed on leaving.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "dist/comm.h"
#include "model/params.h"

namespace hetero {

struct AttentionConfig {
  int64_t hidden = 0;
  int64_t heads = 0;     // num_attention_heads
  int64_t kv_heads = 0;  // num_key_value_heads (query groups); divides heads
  int64_t head_dim = 0;  // head_dim
};

class Attention {
 public:
  // Parameters (HF names): <prefix>.{q,k,v,o}_proj.weight. tp must divide
  // kv_heads. `compute`: dtype of matmuls and TP traffic; softmax in fp32.
  Attention(ParamSet& params, const std::string& prefix, const AttentionConfig& cfg, const Group& tp,
            at::ScalarType compute);

  // x [T, hidden] (packed samples), cu_seqlens as in packing.h. Returns
  // [T, hidden] fp32.
  at::Tensor forward(const at::Tensor& x, const std::vector<int64_t>& cu_seqlens) const;
  // Inside a tp region whose boundaries the caller owns (sequence
  // parallelism): x already entered it (compute dtype); returns this rank's
  // partial sum of the output, in compute dtype.
  at::Tensor forward_partial(const at::Tensor& x, const std::vector<int64_t>& cu_seqlens) const;

 private:
  const Group& tp_;
  at::ScalarType compute_;
  ComputeWeights weights_;  // bf16 copies of the weights, once per optimizer step
  AttentionConfig cfg_;
  int64_t local_heads_, local_kv_heads_;
  at::Tensor wq_, wk_, wv_, wo_;
};

// Causal attention of q [S, h, L, d] over k, v [S, h, L, d] (kv already
// repeated to h heads), scaled by 1/sqrt(d): the fused kernel where LibTorch
// has one (>= 2.0), else an explicit fp32 masked softmax.
at::Tensor causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

}  // namespace hetero
