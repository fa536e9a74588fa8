// CUDA kernels of the fused residual add + LayerNorm (math: add_layer_norm.h).
//
// A row of n channels is handled by a slice of threads_per_row(n) threads
// (a multiple of a warp), each holding up to kSlots packs of 8 channels in
// registers, moved as 16-byte vectors; a block stacks rows_at_once(n) such
// slices along threadIdx.y so that short rows still fill a block.
// Forward: one pass over x and a writes h, keeps h (rounded to T) in
// registers for the mean and then the variance, and writes y.
// Backward: a block handles a run of kRowsPerBackwardBlock rows; per row the
// two sums are a slice reduction, and the channels' d_gamma and d_beta
// shares add up in registers, combined over the slices in shared memory and
// written as one partial row per block; a second kernel sums the partial
// rows in a fixed order. No float atomics: the results are deterministic.
#include "kernels/add_layer_norm_cuda.h"

#include "kernels/add_layer_norm.h"
#include "kernels/element.cuh"

namespace hetero {
namespace {

constexpr int kPack = kAddLayerNormRowMultiple;  // channels per vector access
constexpr int kSlots = 2;                        // packs per thread
constexpr int kBlockThreads = 256;
constexpr int kMaxWarpsPerRow = kBlockThreads / 32;
constexpr int kMaxRowsAtOnce = kBlockThreads / 32;
constexpr int kRowsPerBackwardBlock = 16;
constexpr int kSumLanes = 16;  // partial rows summed side by side, then in lane order
static_assert(kAddLayerNormMaxRow == kBlockThreads * kSlots * kPack, "a row of the maximum width fills one block");

int threads_per_row(int n) {
  const int packs = n / kPack, threads = (packs + kSlots - 1) / kSlots;
  return (threads + 31) / 32 * 32;
}

int rows_at_once(int n) { return kBlockThreads / threads_per_row(n); }

// 8 channels of T as fp32, loaded and stored as 16-byte vectors (element.cuh).
template <typename T>
struct Pack {
  static __device__ __forceinline__ void load(const T* p, float (&v)[kPack]) { load8(p, v); }
  static __device__ __forceinline__ void store(T* p, const float (&v)[kPack]) { store8(p, v); }
  // The value that store() keeps, so the statistics are those of the h returned.
  static __device__ __forceinline__ float rounded(float v) { return to_float(from_float<T>(v)); }
};

// The total of v over this thread's row slice (threadIdx.y), the same on
// every thread of the slice; every thread of the block must call it.
// `scratch` holds kMaxRowsAtOnce * kMaxWarpsPerRow floats. Fixed reduction
// tree: deterministic.
__device__ __forceinline__ float row_sum(float v, float* scratch) {
  v = warp_sum(v);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  float* slice = scratch + threadIdx.y * kMaxWarpsPerRow;
  __syncthreads();  // an earlier call's readers are done with scratch
  if (lane == 0) slice[warp] = v;
  __syncthreads();
  float total = 0.0f;
  for (int w = 0; w < warps; ++w) total += slice[w];
  return total;
}

template <typename T>
__global__ void __launch_bounds__(kBlockThreads) add_layer_norm_forward_kernel(
    const T* __restrict__ x, const T* __restrict__ a, const float* __restrict__ gamma, const float* __restrict__ beta,
    T* __restrict__ h, T* __restrict__ y, float* __restrict__ mean, float* __restrict__ rstd, AddLayerNormShape shape) {
  __shared__ float scratch[kMaxRowsAtOnce * kMaxWarpsPerRow];
  const int n = shape.n, packs = n / kPack;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * blockDim.y + threadIdx.y;
  const bool live = row < shape.tokens;  // a dead slice still joins the block's barriers
  const int64_t base = row * n;
  float hv[kSlots][kPack] = {}, sum = 0.0f;
#pragma unroll
  for (int k = 0; k < kSlots; ++k) {
    const int p = threadIdx.x + k * blockDim.x;
    if (live && p < packs) {
      float av[kPack];
      Pack<T>::load(x + base + p * kPack, hv[k]);
      Pack<T>::load(a + base + p * kPack, av);
#pragma unroll
      for (int i = 0; i < kPack; ++i) hv[k][i] += av[i];
      Pack<T>::store(h + base + p * kPack, hv[k]);
#pragma unroll
      for (int i = 0; i < kPack; ++i) {
        hv[k][i] = Pack<T>::rounded(hv[k][i]);
        sum += hv[k][i];
      }
    }
  }
  const float m = add_layer_norm_mean(row_sum(sum, scratch), n);
  float squares = 0.0f;
#pragma unroll
  for (int k = 0; k < kSlots; ++k) {
    const int p = threadIdx.x + k * blockDim.x;
    if (live && p < packs) {
#pragma unroll
      for (int i = 0; i < kPack; ++i) squares += (hv[k][i] - m) * (hv[k][i] - m);
    }
  }
  const float r = add_layer_norm_rstd(row_sum(squares, scratch), n, shape.eps);
  if (!live) return;  // no barriers below
  if (threadIdx.x == 0) {
    mean[row] = m;
    rstd[row] = r;
  }
#pragma unroll
  for (int k = 0; k < kSlots; ++k) {
    const int p = threadIdx.x + k * blockDim.x;
    if (p < packs) {
      float g[kPack], b[kPack], out[kPack];
      Pack<float>::load(gamma + p * kPack, g);
      Pack<float>::load(beta + p * kPack, b);
#pragma unroll
      for (int i = 0; i < kPack; ++i) out[i] = add_layer_norm_out(hv[k][i], m, r, g[i], b[i]);
      Pack<T>::store(y + base + p * kPack, out);
    }
  }
}

template <typename T>
__global__ void __launch_bounds__(kBlockThreads) add_layer_norm_backward_kernel(
    const T* __restrict__ dy, const T* __restrict__ dh_in, const T* __restrict__ h, const float* __restrict__ gamma,
    const float* __restrict__ mean, const float* __restrict__ rstd, T* __restrict__ dh, float* __restrict__ partial,
    AddLayerNormShape shape) {
  __shared__ float scratch[2][kMaxRowsAtOnce * kMaxWarpsPerRow];
  __shared__ float combined[2 * kAddLayerNormMaxRow];  // d_gamma, d_beta of the slices summed so far
  const int n = shape.n, packs = n / kPack;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * kRowsPerBackwardBlock;
  const int64_t last = min(shape.tokens, first + kRowsPerBackwardBlock);
  float g[kSlots][kPack], d_gamma[kSlots][kPack], d_beta[kSlots][kPack];
#pragma unroll
  for (int k = 0; k < kSlots; ++k) {
    const int p = threadIdx.x + k * blockDim.x;
    if (p < packs) Pack<float>::load(gamma + p * kPack, g[k]);
#pragma unroll
    for (int i = 0; i < kPack; ++i) d_gamma[k][i] = d_beta[k][i] = 0.0f;
  }
  for (int64_t step = first; step < last; step += blockDim.y) {
    const int64_t row = step + threadIdx.y;
    const bool live = row < last;  // a dead slice still joins the block's barriers
    const int64_t base = row * n;
    const float m = live ? mean[row] : 0.0f, r = live ? rstd[row] : 0.0f;
    float hv[kSlots][kPack], dyv[kSlots][kPack], dxhat = 0.0f, dxhat_xhat = 0.0f;
#pragma unroll
    for (int k = 0; k < kSlots; ++k) {
      const int p = threadIdx.x + k * blockDim.x;
      if (live && p < packs) {
        Pack<T>::load(h + base + p * kPack, hv[k]);
        Pack<T>::load(dy + base + p * kPack, dyv[k]);
#pragma unroll
        for (int i = 0; i < kPack; ++i) {
          const AddLayerNormRowTerms t = add_layer_norm_row_terms(dyv[k][i], hv[k][i], g[k][i], m, r);
          dxhat += t.dxhat;
          dxhat_xhat += t.dxhat_xhat;
        }
      }
    }
    const float mean_dxhat = row_sum(dxhat, scratch[0]) / static_cast<float>(n);
    const float mean_dxhat_xhat = row_sum(dxhat_xhat, scratch[1]) / static_cast<float>(n);
#pragma unroll
    for (int k = 0; k < kSlots; ++k) {
      const int p = threadIdx.x + k * blockDim.x;
      if (live && p < packs) {
        float residual[kPack] = {}, out[kPack];
        if (dh_in != nullptr) Pack<T>::load(dh_in + base + p * kPack, residual);
#pragma unroll
        for (int i = 0; i < kPack; ++i) {
          const AddLayerNormGrad d =
              add_layer_norm_grad(residual[i], dyv[k][i], hv[k][i], g[k][i], m, r, mean_dxhat, mean_dxhat_xhat);
          out[i] = d.dh;
          d_gamma[k][i] += d.dgamma;
          d_beta[k][i] += d.dbeta;
        }
        Pack<T>::store(dh + base + p * kPack, out);
      }
    }
  }
  // The slices' shares, added in slice order into `combined`, then one partial row.
  for (int slice = 0; slice < static_cast<int>(blockDim.y); ++slice) {
    if (threadIdx.y == slice) {
#pragma unroll
      for (int k = 0; k < kSlots; ++k) {
        const int p = threadIdx.x + k * blockDim.x;
        if (p < packs) {
#pragma unroll
          for (int i = 0; i < kPack; ++i) {
            const int c = p * kPack + i;
            combined[c] = slice == 0 ? d_gamma[k][i] : combined[c] + d_gamma[k][i];
            combined[n + c] = slice == 0 ? d_beta[k][i] : combined[n + c] + d_beta[k][i];
          }
        }
      }
    }
    __syncthreads();
  }
  float* out = partial + static_cast<int64_t>(blockIdx.x) * 2 * n;
  for (int c = threadIdx.y * blockDim.x + threadIdx.x; c < 2 * n; c += blockDim.x * blockDim.y) out[c] = combined[c];
}

// Column c of the partial rows [rows, 2n] summed: d_gamma for c < n, else
// d_beta. Lane l of a block sums rows l, l + kSumLanes, ...; the lanes' totals
// then add up in lane order: a fixed order, deterministic.
__global__ void __launch_bounds__(32 * kSumLanes) sum_partial_rows_kernel(const float* __restrict__ partial,
                                                                          int64_t rows, int n,
                                                                          float* __restrict__ d_gamma,
                                                                          float* __restrict__ d_beta) {
  __shared__ float lanes[kSumLanes][32];
  const int width = 2 * n, col = blockIdx.x * 32 + threadIdx.x;
  float total = 0.0f;
  if (col < width)
    for (int64_t r = threadIdx.y; r < rows; r += kSumLanes) total += partial[r * width + col];
  lanes[threadIdx.y][threadIdx.x] = total;
  __syncthreads();
  if (threadIdx.y != 0 || col >= width) return;
  float sum = 0.0f;
  for (int l = 0; l < kSumLanes; ++l) sum += lanes[l][threadIdx.x];
  if (col < n)
    d_gamma[col] = sum;
  else
    d_beta[col - n] = sum;
}

bool valid(const AddLayerNormShape& s) {
  return s.n > 0 && s.n <= kAddLayerNormMaxRow && s.n % kAddLayerNormRowMultiple == 0 && s.tokens >= 0;
}

}  // namespace

int64_t add_layer_norm_partial_rows(int64_t tokens) {
  return (tokens + kRowsPerBackwardBlock - 1) / kRowsPerBackwardBlock;
}

template <typename T>
cudaError_t add_layer_norm_forward(const T* x, const T* a, const float* gamma, const float* beta, T* h, T* y,
                                   float* mean, float* rstd, const AddLayerNormShape& shape, cudaStream_t stream) {
  if (!valid(shape)) return cudaErrorInvalidValue;
  if (shape.tokens == 0) return cudaSuccess;
  const int rows = rows_at_once(shape.n);
  const dim3 block(static_cast<unsigned>(threads_per_row(shape.n)), static_cast<unsigned>(rows));
  const unsigned blocks = static_cast<unsigned>((shape.tokens + rows - 1) / rows);
  add_layer_norm_forward_kernel<T><<<blocks, block, 0, stream>>>(x, a, gamma, beta, h, y, mean, rstd, shape);
  return cudaGetLastError();
}

template <typename T>
cudaError_t add_layer_norm_backward(const T* dy, const T* dh_in, const T* h, const float* gamma, const float* mean,
                                    const float* rstd, T* dh, float* d_gamma, float* d_beta, float* partial,
                                    const AddLayerNormShape& shape, cudaStream_t stream) {
  if (!valid(shape)) return cudaErrorInvalidValue;
  const int64_t partial_rows = add_layer_norm_partial_rows(shape.tokens);
  if (partial_rows > 0) {
    const dim3 block(static_cast<unsigned>(threads_per_row(shape.n)), static_cast<unsigned>(rows_at_once(shape.n)));
    add_layer_norm_backward_kernel<T><<<static_cast<unsigned>(partial_rows), block, 0, stream>>>(
        dy, dh_in, h, gamma, mean, rstd, dh, partial, shape);
    const cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return err;
  }
  const unsigned sum_blocks = static_cast<unsigned>((2 * shape.n + 31) / 32);
  sum_partial_rows_kernel<<<sum_blocks, dim3(32, kSumLanes), 0, stream>>>(partial, partial_rows, shape.n, d_gamma,
                                                                          d_beta);
  return cudaGetLastError();
}

#define HETERO_ADD_LAYER_NORM_INSTANTIATE(T)                                                                      \
  template cudaError_t add_layer_norm_forward<T>(const T*, const T*, const float*, const float*, T*, T*, float*, \
                                                 float*, const AddLayerNormShape&, cudaStream_t);                \
  template cudaError_t add_layer_norm_backward<T>(const T*, const T*, const T*, const float*, const float*,      \
                                                  const float*, T*, float*, float*, float*,                      \
                                                  const AddLayerNormShape&, cudaStream_t);
HETERO_ADD_LAYER_NORM_INSTANTIATE(float)
HETERO_ADD_LAYER_NORM_INSTANTIATE(__nv_bfloat16)
#undef HETERO_ADD_LAYER_NORM_INSTANTIATE

}  // namespace hetero
