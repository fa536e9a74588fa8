// The vocabulary split over tensor-parallel ranks (Megatron's vocab
// parallelism): each rank holds rows [start, start + V/tp) of the embedding
// and of the output layer; lookups and the cross-entropy combine the shards
// with sums over the tp group, so no rank ever holds full-vocabulary logits.
#pragma once

#include <ATen/ATen.h>

#include "dist/comm.h"

namespace hetero {

// Rows of `tokens` [...] from the local shard `weight` [V/tp, H]; summed over
// tp so every rank gets the full embedding. `grad_into_weight`: the backward
// adds the rows' gradient into weight.grad (a leaf's) itself, touching only
// the rows used, instead of autograd's full-size gradient that is then
// added (the CUDA path; the CPU build keeps autograd's).
at::Tensor vocab_parallel_embedding(const at::Tensor& tokens, const at::Tensor& weight, const Group& tp,
                                    bool grad_into_weight = false);

// Per-token cross-entropy from logit shards [..., V/tp] and labels [...]
// (global ids). Identical on every tp rank; its gradient flows into each
// rank's own shard.
at::Tensor vocab_parallel_cross_entropy(const at::Tensor& logits_shard, const at::Tensor& labels, const Group& tp);

// The output layer and the summed, masked cross-entropy in one, over chunks
// of tokens, so the [tokens, V/tp] fp32 logits never exist at once:
//   sum_t mask_t * CE(hidden_t W^T, label_t)
// hidden [T, H] in the compute dtype (inside the tp region: replicated over
// tp), weight [V/tp, H] this rank's fp32 shard (cast to hidden's dtype for
// the matmuls), labels [T] global ids, mask [T] float. The gradients of
// hidden and weight are computed chunk by chunk during the forward (when
// either needs one) and scaled by the incoming gradient in backward: the
// same three matmuls as the unfused path, no recomputation. The logits'
// gradient of every chunk is held in hidden's dtype ([T, V/tp]: on the GPU
// in bf16, 2 bytes a logit against the full fp32 logits' 4). Equal to
// vocab_parallel_cross_entropy over the full logits, masked and summed.
// `chunk_tokens` <= 0: sized so one chunk's logits take about 512 MB.
// `weight_in_compute`: weight already in hidden's dtype (a ComputeWeights
// copy), else it is cast here. On CUDA with bf16/fp16 hidden (and int64
// labels) each chunk's softmax and logits' gradient are two fused kernels
// (kernels/cross_entropy.cu) instead of ATen ops on an fp32 copy of the
// chunk's logits; `fused_kernels` = false keeps the ATen reference path
// there too (tests compare the two). `weight_grad_in_gemm` (the caller's
// ComputeWeights::accumulates_in_gemm(weight)): the weight's gradient is
// added to weight.grad in fp32 by its GEMM in backward
// (accumulate_weight_grad) instead of being returned.
at::Tensor vocab_parallel_cross_entropy_sum(const at::Tensor& hidden, const at::Tensor& weight,
                                            const at::Tensor& labels, const at::Tensor& mask, const Group& tp,
                                            int64_t chunk_tokens = 0, const at::Tensor& weight_in_compute = {},
                                            bool fused_kernels = true, bool weight_grad_in_gemm = false);

}  // namespace hetero
