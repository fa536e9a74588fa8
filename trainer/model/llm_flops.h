// Model FLOPs of the Nemotron-H LLM (what tflops_per_gpu and the benchmark
// report, and MFU divides by the GPU's peak).
//
// Model FLOPs = 3 x the forward matmul FLOPs (backward: twice the forward),
// a matmul of [m, k] by [k, n] counting 2 m k n, per sequence of S tokens:
//   Mamba-2 (M)   projections: 2 S H (in_proj rows) + 2 S (heads P) H;
//                 SSD scan, per token and head (chunk Q, state N, head dim P):
//                 C B^T over the causal half of a chunk Q N, its scores times
//                 x Q P, chunk states 2 P N, output from entering states 2 N P
//   attention (*) projections: 2 S H (heads + 2 kv heads) d + 2 S heads d H;
//                 core Q K^T and P V over the causal half: 2 heads d S^2
//   MLP (-)       2 x 2 S H ffn
//   MoE (E)       router 2 S H E; active experts only: top_k x 2 x 2 S H
//                 moe_ffn; shared expert 2 x 2 S H shared_ffn
//   output layer  2 S H V
// Left out, as elementwise or small: embedding lookup, norms, conv1d, gates,
// the SSD state passing across chunks, the cross-entropy, the optimizer.
// Per GPU: divided by the ranks of the module that does the work (the LLM's).
#pragma once

#include <cstdint>

#include "hetero/recipe.h"

namespace hetero {

// Forward matmul FLOPs of one sequence of `seq_length` tokens, by layer kind.
struct LlmForwardFlops {
  double mamba = 0, attention = 0, mlp = 0, moe = 0, output = 0;
  double total() const { return mamba + attention + mlp + moe + output; }
};

LlmForwardFlops llm_forward_flops(const LlmArch& arch, std::int64_t seq_length);

// Model FLOPs of training on `sequences` sequences of `seq_length` tokens.
double llm_model_flops(const LlmArch& arch, std::int64_t seq_length, std::int64_t sequences);

}  // namespace hetero
