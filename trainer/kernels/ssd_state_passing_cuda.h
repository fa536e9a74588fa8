// Host entry points of the SSD state-passing kernels (ssd_state_passing.cu):
// raw pointers and a stream; each returns the launch's cudaError_t. T
// (float or __nv_bfloat16) is the dtype of own, entering and their
// gradients; chunk_log and its gradient fp32. Layouts as
// kernels/ssd_state_passing.h.
#pragma once

#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "kernels/ssd_state_passing.h"

namespace hetero {

template <typename T>
cudaError_t ssd_state_passing_forward(const T* own, const float* chunk_log, T* entering,
                                      const SsdStatePassingShape& shape, cudaStream_t stream);

// Blocks of the backward over each (batch, head)'s state: d_log_partial
// holds ssd_state_passing_backward_slices(shape) partial sums per
// chunk_log element, [batch, chunks, heads, slices], for the caller to sum.
int64_t ssd_state_passing_backward_slices(const SsdStatePassingShape& shape);

// states: scratch shaped like own, fp32 (the forward's fp32 states,
// recomputed). d_own gets every element; d_log_partial every
// element.
template <typename T>
cudaError_t ssd_state_passing_backward(const T* d_entering, const T* own, const float* chunk_log, float* states,
                                       T* d_own, float* d_log_partial, const SsdStatePassingShape& shape,
                                       cudaStream_t stream);

}  // namespace hetero
