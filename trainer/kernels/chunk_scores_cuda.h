// Host entry points of the chunk-score kernels (chunk_scores.cu): raw
// pointers to contiguous tensors and a stream; each returns the launch's
// cudaError_t. Layouts: cb [groups, q, q]; a_cum, dt [groups * hg, q];
// scores, d_scores [groups * hg, q, q] (a group's hg heads consecutive).
// Outputs d_cb [groups, q, q] (all written) and d_a_cum, d_dt
// [groups * hg, q] (accumulated into: zero them first).
#pragma once

#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

namespace hetero {

// Limits of the backward kernel's tiling (chunk_scores.cu).
constexpr int kChunkScoresMaxChunk = 256;
constexpr int kChunkScoresMaxHeadsPerGroup = 64;

cudaError_t chunk_scores_forward(const float* cb, const float* a_cum, const float* dt, float* scores, int64_t groups,
                                 int heads_per_group, int q, cudaStream_t stream);
cudaError_t chunk_scores_forward(const float* cb, const float* a_cum, const float* dt, __nv_bfloat16* scores,
                                 int64_t groups, int heads_per_group, int q, cudaStream_t stream);

cudaError_t chunk_scores_backward(const float* d_scores, const float* cb, const float* a_cum, const float* dt,
                                  float* d_cb, float* d_a_cum, float* d_dt, int64_t groups, int heads_per_group, int q,
                                  cudaStream_t stream);
cudaError_t chunk_scores_backward(const __nv_bfloat16* d_scores, const float* cb, const float* a_cum, const float* dt,
                                  float* d_cb, float* d_a_cum, float* d_dt, int64_t groups, int heads_per_group, int q,
                                  cudaStream_t stream);

}  // namespace hetero
