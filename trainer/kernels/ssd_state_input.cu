// The SSD scan's chunk-state input in one pass each way (math and layouts:
// ssd_state_input.h): a warp per row (batch, chunk, group, position, head),
// its lanes over the head's channels, so that d_to_end of a row is one warp
// reduction with one writer (no atomics).
#include "kernels/ssd_state_input_cuda.h"

#include "kernels/element.cuh"
#include "kernels/grid.h"

namespace hetero {
namespace {

constexpr int kThreads = 256, kWarps = kThreads / 32;

template <typename T>
__global__ void __launch_bounds__(kThreads) forward_kernel(const T* __restrict__ x, const float* __restrict__ to_end,
                                                           T* __restrict__ weighted, SsdStateInputShape s) {
  const int lane = threadIdx.x % 32;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32; row < s.rows();
       row += static_cast<int64_t>(gridDim.x) * kWarps) {
    const SsdStateInputRow r = ssd_state_input_row(s, row);
    const float w = to_end[r.to_end];
    for (int64_t k = lane; k < s.head_dim; k += 32)
      weighted[r.out + k] = from_float<T>(r.padding ? 0.0f : to_float(x[r.x + k]) * w);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    backward_kernel(const T* __restrict__ d_weighted, const T* __restrict__ x, const float* __restrict__ to_end,
                    T* __restrict__ dx, float* __restrict__ d_to_end, SsdStateInputShape s) {
  const int lane = threadIdx.x % 32;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32; row < s.rows();
       row += static_cast<int64_t>(gridDim.x) * kWarps) {
    const SsdStateInputRow r = ssd_state_input_row(s, row);
    float sum = 0.0f;
    if (!r.padding) {  // warp-uniform: the whole row is padding or none of it
      const float w = to_end[r.to_end];
      for (int64_t k = lane; k < s.head_dim; k += 32) {
        const float g = to_float(d_weighted[r.out + k]);
        dx[r.dx + k] = from_float<T>(g * w);
        sum += g * to_float(x[r.x + k]);
      }
    }
    sum = warp_sum(sum);
    if (lane == 0) d_to_end[r.to_end] = sum;
  }
}

int64_t blocks_for(int64_t rows) { return grid_stride_blocks(rows, kWarps, 32); }

}  // namespace

template <typename T>
cudaError_t ssd_state_input_forward(const T* x, const float* to_end, T* weighted, const SsdStateInputShape& shape,
                                    cudaStream_t stream) {
  if (shape.rows() == 0 || shape.head_dim == 0) return cudaSuccess;
  forward_kernel<T><<<static_cast<unsigned>(blocks_for(shape.rows())), kThreads, 0, stream>>>(x, to_end, weighted,
                                                                                               shape);
  return cudaGetLastError();
}

template <typename T>
cudaError_t ssd_state_input_backward(const T* d_weighted, const T* x, const float* to_end, T* dx, float* d_to_end,
                                     const SsdStateInputShape& shape, cudaStream_t stream) {
  if (shape.rows() == 0 || shape.head_dim == 0) return cudaSuccess;
  backward_kernel<T><<<static_cast<unsigned>(blocks_for(shape.rows())), kThreads, 0, stream>>>(d_weighted, x, to_end,
                                                                                                dx, d_to_end, shape);
  return cudaGetLastError();
}

template cudaError_t ssd_state_input_forward<float>(const float*, const float*, float*, const SsdStateInputShape&,
                                                    cudaStream_t);
template cudaError_t ssd_state_input_forward<__nv_bfloat16>(const __nv_bfloat16*, const float*, __nv_bfloat16*,
                                                            const SsdStateInputShape&, cudaStream_t);
template cudaError_t ssd_state_input_backward<float>(const float*, const float*, const float*, float*, float*,
                                                     const SsdStateInputShape&, cudaStream_t);
template cudaError_t ssd_state_input_backward<__nv_bfloat16>(const __nv_bfloat16*, const __nv_bfloat16*, const float*,
                                                             __nv_bfloat16*, float*, const SsdStateInputShape&,
                                                             cudaStream_t);

}  // namespace hetero
