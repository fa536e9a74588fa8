// The model FLOP count (model/llm_flops.h) against a count by hand for a
// small arch with one layer of each kind.
#include <gtest/gtest.h>

#include "model/llm_flops.h"

namespace hetero {
namespace {

LlmArch tiny() {
  LlmArch a;
  a.num_layers = 4;
  a.hybrid_override_pattern = "M*-E";
  a.hidden_size = 4;
  a.vocab_size = 10;
  a.seq_length = 8;
  a.mamba_num_heads = 2, a.mamba_head_dim = 3, a.n_groups = 1, a.ssm_state_size = 5, a.chunk_size = 4;
  a.num_attention_heads = 2, a.num_query_groups = 1, a.head_dim = 3;
  a.ffn_hidden_size = 7;
  a.num_experts = 3, a.moe_intermediate_size = 2, a.num_experts_per_tok = 2, a.moe_shared_expert_intermediate_size = 5;
  return a;
}

TEST(LlmFlops, HandCountOfOneLayerOfEachKind) {
  const LlmForwardFlops f = llm_forward_flops(tiny(), 8);
  // Mamba: in_proj rows z 6 + x 6 + B 5 + C 5 + dt 2 = 24: 2*8*4*24 = 1536;
  // out_proj 2*8*6*4 = 384; SSD per token and head Q N + Q P + 4 P N =
  // 20 + 12 + 60 = 92, times 8 tokens, 2 heads = 1472.
  EXPECT_DOUBLE_EQ(f.mamba, 1536 + 384 + 1472);
  // Attention: q, k, v 2*8*4*(2+1+1)*3 = 768; o 2*8*6*4 = 384; core 2*2*3*8*8 = 768.
  EXPECT_DOUBLE_EQ(f.attention, 768 + 384 + 768);
  // MLP: up and down 2 * 2*8*4*7.
  EXPECT_DOUBLE_EQ(f.mlp, 896);
  // MoE: router 2*8*4*3 = 192; two active experts 2 * 2*2*8*4*2 = 512; shared 2*2*8*4*5 = 640.
  EXPECT_DOUBLE_EQ(f.moe, 192 + 512 + 640);
  // Output layer 2*8*4*10.
  EXPECT_DOUBLE_EQ(f.output, 640);
  EXPECT_DOUBLE_EQ(f.total(), 8192);
  // Training 3 sequences: forward and twice the forward for backward.
  EXPECT_DOUBLE_EQ(llm_model_flops(tiny(), 8, 3), 3.0 * 8192 * 3);
}

TEST(LlmFlops, ShortSequencesUseTheirLengthAsTheChunk) {
  // With S = 2 < chunk 4, the SSD's intra-chunk terms use Q = 2:
  // 2 tokens * 2 heads * (2*5 + 2*3 + 4*3*5) = 304.
  const LlmForwardFlops f = llm_forward_flops(tiny(), 2);
  EXPECT_DOUBLE_EQ(f.mamba, 2 * 2 * 4 * 24 + 2 * 2 * 6 * 4 + 304);
}

TEST(LlmFlops, ArchWithoutAttentionCountsNone) {
  LlmArch a = tiny();
  a.hybrid_override_pattern = "MM--", a.num_attention_heads = 0, a.head_dim = 0;
  EXPECT_DOUBLE_EQ(llm_forward_flops(a, 8).attention, 0);
}

}  // namespace
}  // namespace hetero
