// The SSD scan's state passing across chunks in one pass each way (math and
// layouts: ssd_state_passing.h). The forward runs a thread per lane (batch,
// state element of a chunk, in memory order) through the chunks in order.
// The backward runs the adjoint recurrence from the last chunk back;
// chunk_log's gradient sums over each (batch, head)'s state, so a block
// takes a slice of one head's state and leaves one partial sum per chunk
// (no atomics: deterministic).
#include "kernels/ssd_state_passing_cuda.h"

#include "kernels/element.cuh"

namespace hetero {
namespace {

constexpr int kThreads = 256, kWarps = kThreads / 32;
constexpr int kPerThread = 4, kSliceWidth = kThreads * kPerThread;  // backward: state elements per block

template <typename T>
__global__ void __launch_bounds__(kThreads) forward_kernel(const T* __restrict__ own, const float* __restrict__ chunk_log,
                                                           T* __restrict__ entering, SsdStatePassingShape s) {
  for (int64_t lane = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; lane < s.lanes();
       lane += static_cast<int64_t>(gridDim.x) * kThreads) {
    const int64_t o = lane % s.chunk_width(), b = lane / s.chunk_width(), h = s.head_of(o);
    float state = 0.0f;
    for (int64_t k = 0; k < s.chunks; ++k) {
      const int64_t i = s.at(b, k, o);
      entering[i] = from_float<T>(state);
      state = expf(chunk_log[s.log_at(b, k, h)]) * state + to_float(own[i]);
    }
  }
}

// Block (slice, b * heads + h): a slice of head h's state. With mu the
// gradient reaching the state that leaves chunk k (entering[k + 1] and
// everything after it), for each element w of the state:
//   d_own[k] = mu,  d_chunk_log[k] = exp(chunk_log[k]) * sum_w mu * entering[k],
//   then mu <- d_entering[k] + exp(chunk_log[k]) * mu.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    backward_kernel(const T* __restrict__ d_entering, const T* __restrict__ own, const float* __restrict__ chunk_log,
                    float* __restrict__ states, T* __restrict__ d_own, float* __restrict__ d_log_partial,
                    SsdStatePassingShape s) {
  __shared__ float warp_sums[2][kWarps];
  const int64_t slices = gridDim.x, slice = blockIdx.x;
  const int64_t b = blockIdx.y / s.heads(), h = blockIdx.y % s.heads();
  int64_t o[kPerThread];  // where the thread's elements lie within a chunk
  bool valid[kPerThread];
#pragma unroll
  for (int j = 0; j < kPerThread; ++j) {
    const int64_t w = slice * kSliceWidth + j * kThreads + threadIdx.x;
    valid[j] = w < s.head_width();
    o[j] = valid[j] ? s.of_head(h, w) : 0;
  }
  // The forward's fp32 states again, each thread's own elements (it alone reads them back).
  float state[kPerThread] = {};
  for (int64_t k = 0; k < s.chunks; ++k) {
    const float decay = expf(chunk_log[s.log_at(b, k, h)]);
#pragma unroll
    for (int j = 0; j < kPerThread; ++j) {
      if (!valid[j]) continue;
      const int64_t i = s.at(b, k, o[j]);
      states[i] = state[j];
      state[j] = decay * state[j] + to_float(own[i]);
    }
  }
  float mu[kPerThread] = {};
  for (int64_t k = s.chunks - 1; k >= 0; --k) {
    const float decay = expf(chunk_log[s.log_at(b, k, h)]);
    float partial = 0.0f;
#pragma unroll
    for (int j = 0; j < kPerThread; ++j) {
      if (!valid[j]) continue;
      const int64_t i = s.at(b, k, o[j]);
      partial += mu[j] * states[i];
      d_own[i] = from_float<T>(mu[j]);
      mu[j] = to_float(d_entering[i]) + decay * mu[j];
    }
    // Two buffers by chunk parity: one barrier per chunk keeps a buffer from
    // being rewritten before thread 0 has read it.
    partial = warp_sum(partial);
    float* buffer = warp_sums[k & 1];
    if (threadIdx.x % 32 == 0) buffer[threadIdx.x / 32] = partial;
    __syncthreads();
    if (threadIdx.x == 0) {
      float sum = 0.0f;
#pragma unroll
      for (int i = 0; i < kWarps; ++i) sum += buffer[i];
      d_log_partial[s.log_at(b, k, h) * slices + slice] = decay * sum;
    }
  }
}

}  // namespace

int64_t ssd_state_passing_backward_slices(const SsdStatePassingShape& shape) {
  return (shape.head_width() + kSliceWidth - 1) / kSliceWidth;
}

template <typename T>
cudaError_t ssd_state_passing_forward(const T* own, const float* chunk_log, T* entering,
                                      const SsdStatePassingShape& shape, cudaStream_t stream) {
  if (shape.lanes() == 0 || shape.chunks == 0) return cudaSuccess;
  const int64_t blocks = (shape.lanes() + kThreads - 1) / kThreads;
  forward_kernel<T><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(own, chunk_log, entering, shape);
  return cudaGetLastError();
}

template <typename T>
cudaError_t ssd_state_passing_backward(const T* d_entering, const T* own, const float* chunk_log, float* states,
                                       T* d_own, float* d_log_partial, const SsdStatePassingShape& shape,
                                       cudaStream_t stream) {
  if (shape.lanes() == 0 || shape.chunks == 0) return cudaSuccess;
  const dim3 grid(static_cast<unsigned>(ssd_state_passing_backward_slices(shape)),
                  static_cast<unsigned>(shape.batch * shape.heads()));
  backward_kernel<T><<<grid, kThreads, 0, stream>>>(d_entering, own, chunk_log, states, d_own, d_log_partial, shape);
  return cudaGetLastError();
}

template cudaError_t ssd_state_passing_forward<float>(const float*, const float*, float*, const SsdStatePassingShape&,
                                                      cudaStream_t);
template cudaError_t ssd_state_passing_forward<__nv_bfloat16>(const __nv_bfloat16*, const float*, __nv_bfloat16*,
                                                              const SsdStatePassingShape&, cudaStream_t);
template cudaError_t ssd_state_passing_backward<float>(const float*, const float*, const float*, float*, float*,
                                                       float*, const SsdStatePassingShape&, cudaStream_t);
template cudaError_t ssd_state_passing_backward<__nv_bfloat16>(const __nv_bfloat16*, const __nv_bfloat16*,
                                                               const float*, float*, __nv_bfloat16*, float*,
                                                               const SsdStatePassingShape&, cudaStream_t);

}  // namespace hetero
