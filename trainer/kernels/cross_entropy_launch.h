// at::Tensor wrappers of the fused cross-entropy kernels (CUDA build only;
// cross_entropy_launch.cpp), for ChunkedCrossEntropy (model/vocab_parallel.cpp).
// A chunk's logits [n, V/tp]: bf16 or fp16 on CUDA, unit column stride,
// any row stride; labels [n] int64 global ids; this rank holds ids
// [label_start, label_start + V/tp).
#pragma once

#include <cstdint>

#include <ATen/ATen.h>

namespace hetero {

// Per row, over this shard only, in fp32: max [n], the row's largest logit;
// sums [2, n], {sum of exp(logit - max), the label's logit (0 where another
// rank holds it)}: the layout of the tp all-reduce of the sums.
struct CrossEntropyRowStats {
  at::Tensor max, sums;
};
CrossEntropyRowStats cross_entropy_row_stats_cuda(const at::Tensor& logits, const at::Tensor& labels,
                                                  int64_t label_start);

// Writes d_logits [n, V/tp] (logits' dtype, unit column stride, any row
// stride) = mask * exp(logit - max) / sum, minus mask at the label's column
// on the rank that holds it. max, sum, mask: [n] fp32 (max and sum the whole
// vocabulary's). Where d_logits' rows are off the 16-byte grid unlike the
// logits' (an odd V/tp), the gradient is written over `logits` and copied.
void cross_entropy_logit_grad_cuda(const at::Tensor& logits, const at::Tensor& d_logits, const at::Tensor& labels,
                                   int64_t label_start, const at::Tensor& max, const at::Tensor& sum,
                                   const at::Tensor& mask);

}  // namespace hetero
