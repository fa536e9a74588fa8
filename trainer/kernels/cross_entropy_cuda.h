// Host entry points of the fused cross-entropy kernels (cross_entropy.cu;
// math: cross_entropy.h): raw pointers and a stream; each returns the
// launch's cudaError_t. A chunk of `rows` tokens' logits over this rank's
// `cols` vocabulary rows, T bf16 or fp16, row r at logits + r * ld (ld >=
// cols; rows 2-byte aligned, any offset from the 16-byte grid: each row's
// unaligned head and tail are read one element at a time). labels [rows]
// int64 global ids; this rank holds ids [label_start, label_start + cols).
// Per-row fp32 vectors [rows] are contiguous.
#pragma once

#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace hetero {

struct CrossEntropyRows {
  int64_t rows;
  int cols;
  int64_t ld;           // the logits' row stride, in elements
  int64_t label_start;  // the first global id of this rank's shard
};

// Per row, over this shard only: max (the row's largest logit), sum (of
// exp(logit - max)) and target (the label's logit, 0 where another rank
// holds the label). Fixed-order reductions: deterministic.
template <typename T>
cudaError_t cross_entropy_row_stats(const T* logits, const int64_t* labels, const CrossEntropyRows& shape, float* max,
                                    float* sum, float* target, cudaStream_t stream);

// d_logits (row r at d_logits + r * d_ld) = mask * exp(logit - max) / sum,
// minus mask at the label's column where this rank holds it; max and sum
// are the whole vocabulary's (after the tp all-reduces), mask [rows] fp32.
// d_logits may be logits itself (d_ld == ld: written in place); otherwise
// every row of d_logits must sit at the same offset from the 16-byte grid
// as the logits' row (cross_entropy_rows_alike).
template <typename T>
cudaError_t cross_entropy_logit_grad(const T* logits, T* d_logits, int64_t d_ld, const int64_t* labels,
                                     const float* max, const float* sum, const float* mask,
                                     const CrossEntropyRows& shape, cudaStream_t stream);

// Whether every row of a (stride lda) sits at the same offset from the
// 16-byte grid as the same row of b (stride ldb); strides in elements.
inline bool cross_entropy_rows_alike(const void* a, int64_t lda, const void* b, int64_t ldb, int element_bytes) {
  const auto offset = [](const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16; };
  return offset(a) == offset(b) && ((lda - ldb) * element_bytes) % 16 == 0;
}

}  // namespace hetero
