// The SSD scan's output step in one pass each way (math and layouts:
// ssd_output.h): a warp per row (batch, step, head), its lanes over the
// head's channels, so that a row's sums for d_a_cum and dD are one warp
// reduction and every gradient element has one writer (no atomics).
#include "kernels/ssd_output_cuda.h"

#include "kernels/element.cuh"
#include "kernels/grid.h"

namespace hetero {
namespace {

constexpr int kThreads = 256, kWarps = kThreads / 32;

template <typename T>
__global__ void __launch_bounds__(kThreads)
    forward_kernel(const T* __restrict__ y_intra, const T* __restrict__ y_inter, const float* __restrict__ a_cum,
                   const T* __restrict__ x, const float* __restrict__ D, float* __restrict__ out, SsdOutputShape s) {
  const int lane = threadIdx.x % 32;
  const int64_t rows = s.rows(), heads = s.heads();
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32; row < rows;
       row += static_cast<int64_t>(gridDim.x) * kWarps) {
    const SsdOutputRow r = ssd_output_row(s, row);
    const float decay = expf(a_cum[r.a_cum]), d = D == nullptr ? 0.0f : D[row % heads];
    for (int64_t k = lane; k < s.head_dim; k += 32)
      out[r.out + k] = ssd_output_value(to_float(y_intra[r.y_intra + k]), to_float(y_inter[r.y_inter + k]), decay,
                                        to_float(x[r.x + k]), d);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    backward_kernel(const float* __restrict__ dy, const T* __restrict__ y_inter, const float* __restrict__ a_cum,
                    const T* __restrict__ x, const float* __restrict__ D, T* __restrict__ d_y_intra,
                    T* __restrict__ d_y_inter, float* __restrict__ d_a_cum, T* __restrict__ dx,
                    float* __restrict__ dD_rows, SsdOutputShape s) {
  const int lane = threadIdx.x % 32;
  const int64_t rows = s.rows(), heads = s.heads();
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32; row < rows;
       row += static_cast<int64_t>(gridDim.x) * kWarps) {
    const SsdOutputRow r = ssd_output_row(s, row);
    const float decay = expf(a_cum[r.a_cum]), d = D == nullptr ? 0.0f : D[row % heads];
    float to_decay = 0.0f, to_d = 0.0f;
    for (int64_t k = lane; k < s.head_dim; k += 32) {
      const float g = dy[r.out + k], inter = to_float(y_inter[r.y_inter + k]);
      d_y_intra[r.y_intra + k] = from_float<T>(g);
      d_y_inter[r.y_inter + k] = from_float<T>(g * decay);
      dx[r.dx + k] = from_float<T>(g * d);
      to_decay += g * inter;
      if (D != nullptr) to_d += g * to_float(x[r.x + k]);
    }
    // d exp(a)/da = exp(a): the row's share of a_cum's gradient.
    to_decay = warp_sum(to_decay) * decay;
    if (D != nullptr) to_d = warp_sum(to_d);
    if (lane == 0) {
      d_a_cum[r.a_cum] = to_decay;
      if (D != nullptr) dD_rows[row] = to_d;
    }
  }
}

int64_t blocks_for(int64_t rows) { return grid_stride_blocks(rows, kWarps, 32); }

}  // namespace

template <typename T>
cudaError_t ssd_output_forward(const T* y_intra, const T* y_inter, const float* a_cum, const T* x, const float* D,
                               float* out, const SsdOutputShape& shape, cudaStream_t stream) {
  if (shape.rows() == 0 || shape.head_dim == 0) return cudaSuccess;
  forward_kernel<T><<<static_cast<unsigned>(blocks_for(shape.rows())), kThreads, 0, stream>>>(y_intra, y_inter,
                                                                                               a_cum, x, D, out, shape);
  return cudaGetLastError();
}

template <typename T>
cudaError_t ssd_output_backward(const float* dy, const T* y_inter, const float* a_cum, const T* x, const float* D,
                                T* d_y_intra, T* d_y_inter, float* d_a_cum, T* dx, float* dD_rows,
                                const SsdOutputShape& shape, cudaStream_t stream) {
  if (shape.rows() == 0 || shape.head_dim == 0) return cudaSuccess;
  backward_kernel<T><<<static_cast<unsigned>(blocks_for(shape.rows())), kThreads, 0, stream>>>(
      dy, y_inter, a_cum, x, D, d_y_intra, d_y_inter, d_a_cum, dx, dD_rows, shape);
  return cudaGetLastError();
}

template cudaError_t ssd_output_forward<float>(const float*, const float*, const float*, const float*, const float*,
                                               float*, const SsdOutputShape&, cudaStream_t);
template cudaError_t ssd_output_forward<__nv_bfloat16>(const __nv_bfloat16*, const __nv_bfloat16*, const float*,
                                                       const __nv_bfloat16*, const float*, float*,
                                                       const SsdOutputShape&, cudaStream_t);
template cudaError_t ssd_output_backward<float>(const float*, const float*, const float*, const float*, const float*,
                                                float*, float*, float*, float*, float*, const SsdOutputShape&,
                                                cudaStream_t);
template cudaError_t ssd_output_backward<__nv_bfloat16>(const float*, const __nv_bfloat16*, const float*,
                                                        const __nv_bfloat16*, const float*, __nv_bfloat16*,
                                                        __nv_bfloat16*, float*, __nv_bfloat16*, float*,
                                                        const SsdOutputShape&, cudaStream_t);

}  // namespace hetero
