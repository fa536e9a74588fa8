// The vocabulary split over tensor-parallel ranks (Megatron's vocab
// parallelism): each rank holds rows [start, start + V/tp) of the embedding
// and of the output layer; lookups and the cross-entropy combine the shards
// with sums over the tp group, so no rank ever holds full-vocabulary logits.
#pragma once

#include <ATen/ATen.h>

#include "dist/comm.h"

namespace hetero {

// Rows of `tokens` [...] from the local shard `weight` [V/tp, H]; summed over
// tp so every rank gets the full embedding.
at::Tensor vocab_parallel_embedding(const at::Tensor& tokens, const at::Tensor& weight, const Group& tp);

// Per-token cross-entropy from logit shards [..., V/tp] and labels [...]
// (global ids). Identical on every tp rank; its gradient flows into each
// rank's own shard.
at::Tensor vocab_parallel_cross_entropy(const at::Tensor& logits_shard, const at::Tensor& labels, const Group& tp);

}  // namespace hetero
