// Host entry points of the chunk-score kernels (chunk_scores.cu): raw
// pointers to contiguous tensors and a stream; each returns the launch's
// cudaError_t. Layouts: cb [groups, q, q]; a_cum, dt [groups * hg, q];
// scores, d_scores [groups * hg, q, q] (a group's hg heads consecutive).
// Outputs d_cb [groups, q, q] (all written) and d_a_cum, d_dt
// [groups * hg, q] (accumulated into: zero them first). The backward also
// takes a scratch fp32 workspace of chunk_scores_backward_workspace_floats()
// elements on the same device (no initial values needed; in use until the
// launches on `stream` are done). Results are deterministic (no atomics).
#pragma once

#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

namespace hetero {

// Limits of the kernels (chunk_scores.cu): a row of q steps fits one warp's
// lanes at 8 columns a lane; hg is the limit the wrappers document.
constexpr int kChunkScoresMaxChunk = 256;
constexpr int kChunkScoresMaxHeadsPerGroup = 64;

cudaError_t chunk_scores_forward(const float* cb, const float* a_cum, const float* dt, float* scores, int64_t groups,
                                 int heads_per_group, int q, cudaStream_t stream);
cudaError_t chunk_scores_forward(const float* cb, const float* a_cum, const float* dt, __nv_bfloat16* scores,
                                 int64_t groups, int heads_per_group, int q, cudaStream_t stream);

// The backward's workspace size in floats (0 where there is nothing to do).
int64_t chunk_scores_backward_workspace_floats(int64_t groups, int heads_per_group, int q);

cudaError_t chunk_scores_backward(const float* d_scores, const float* cb, const float* a_cum, const float* dt,
                                  float* d_cb, float* d_a_cum, float* d_dt, float* workspace, int64_t groups,
                                  int heads_per_group, int q, cudaStream_t stream);
cudaError_t chunk_scores_backward(const __nv_bfloat16* d_scores, const float* cb, const float* a_cum, const float* dt,
                                  float* d_cb, float* d_a_cum, float* d_dt, float* workspace, int64_t groups,
                                  int heads_per_group, int q, cudaStream_t stream);

}  // namespace hetero
