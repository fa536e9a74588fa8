#include "model/llm_flops.h"

#include <algorithm>

namespace hetero {

LlmForwardFlops llm_forward_flops(const LlmArch& a, std::int64_t seq_length) {
  const double s = static_cast<double>(seq_length), h = a.hidden_size;
  // Mamba-2.
  const double inner = double(a.mamba_num_heads) * a.mamba_head_dim;
  const double in_proj_rows = 2 * inner + 2.0 * a.n_groups * a.ssm_state_size + a.mamba_num_heads;
  const double q = std::min<double>(a.chunk_size, s), n = a.ssm_state_size, p = a.mamba_head_dim;
  const double ssd = s * a.mamba_num_heads * (q * n + q * p + 4 * p * n);
  const double mamba = 2 * s * h * in_proj_rows + 2 * s * inner * h + ssd;
  // Attention.
  double attention = 0;
  if (a.num_attention_heads > 0) {
    const double d = a.attention_head_dim(), heads = a.num_attention_heads, kv = a.num_query_groups;
    attention = 2 * s * h * (heads + 2 * kv) * d + 2 * s * heads * d * h + 2 * heads * d * s * s;
  }
  // MLP and MoE.
  const double mlp = 4 * s * h * a.ffn_hidden_size;
  const double moe = 2 * s * h * a.num_experts + 4 * s * h * double(a.num_experts_per_tok) * a.moe_intermediate_size +
                     4 * s * h * a.moe_shared_expert_intermediate_size;
  LlmForwardFlops f;
  f.mamba = a.count_layers('M') * mamba;
  f.attention = a.count_layers('*') * attention;
  f.mlp = a.count_layers('-') * mlp;
  f.moe = a.count_layers('E') * moe;
  f.output = 2 * s * h * a.vocab_size;
  return f;
}

double llm_model_flops(const LlmArch& arch, std::int64_t seq_length, std::int64_t sequences) {
  return 3.0 * llm_forward_flops(arch, seq_length).total() * static_cast<double>(sequences);
}

}  // namespace hetero
