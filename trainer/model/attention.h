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
#include "model/sequence_mixer.h"

namespace hetero {

struct AttentionConfig {
  int64_t hidden = 0;
  int64_t heads = 0;     // num_attention_heads
  int64_t kv_heads = 0;  // num_key_value_heads (query groups); divides heads
  int64_t head_dim = 0;  // head_dim
};

class Attention : public SequenceMixer {
 public:
  // Parameters (HF names): <prefix>.{q,k,v,o}_proj.weight. tp must divide
  // kv_heads. `compute`: dtype of matmuls and TP traffic; softmax in fp32.
  Attention(ParamSet& params, const std::string& prefix, const AttentionConfig& cfg, const Group& tp,
            at::ScalarType compute);

  at::Tensor forward_partial(const at::Tensor& x, const std::vector<int64_t>& cu_seqlens) const override;

 private:
  AttentionConfig cfg_;
  int64_t local_heads_, local_kv_heads_;
  at::Tensor wq_, wk_, wv_, wo_;
};

// Causal attention of q [S, h, L, d] over k, v [S, h, L, d] (kv already
// repeated to h heads), scaled by 1/sqrt(d): the fused kernel where LibTorch
// has one (>= 2.0), else an explicit fp32 masked softmax.
at::Tensor causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

}  // namespace hetero
