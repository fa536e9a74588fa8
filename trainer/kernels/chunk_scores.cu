// CUDA kernels of the SSD chunk scores (math: chunk_scores.h).
//
// Forward: one block per (chunk, group, head), a thread per output element
// (grid-stride over q * q), the head's a_cum and dt in shared memory.
//
// Backward: one block per (chunk, group), so that every gradient element has
// one owner and the sums run in a fixed order (deterministic, no atomics).
// The block walks the q x q matrix in tiles of whole rows (at most
// kTileElements); each thread keeps its tile elements' CB and dCB in
// registers and loops over the group's heads, adding each head's share to
// dCB. Per head, the element terms g = d_score * score and d_score * CB * e
// go to shared memory, and their column sums (by a thread per column) and
// row sums (by a warp per row) are added into d_a_cum and d_dt in global
// memory, which only this block touches.
#include "kernels/chunk_scores_cuda.h"

#include "kernels/chunk_scores.h"
#include "kernels/element.cuh"

namespace hetero {
namespace {

constexpr int kThreads = 256;
constexpr int kElementsPerThread = 16;
constexpr int kTileElements = kThreads * kElementsPerThread;  // >= kChunkScoresMaxChunk rows of one element
constexpr int kWarps = kThreads / 32;
static_assert(kTileElements >= kChunkScoresMaxChunk, "a tile holds at least one row of the longest chunk");

__device__ __forceinline__ void store(float* p, float v) { *p = v; }
__device__ __forceinline__ void store(__nv_bfloat16* p, float v) { *p = __float2bfloat16(v); }

template <typename Out>
__global__ void __launch_bounds__(kThreads) chunk_scores_forward_kernel(const float* __restrict__ cb,
                                                                        const float* __restrict__ a_cum,
                                                                        const float* __restrict__ dt,
                                                                        Out* __restrict__ scores, int heads_per_group,
                                                                        int q) {
  __shared__ float a[kChunkScoresMaxChunk], d[kChunkScoresMaxChunk];
  const int64_t head = blockIdx.x, group = head / heads_per_group;
  const int64_t qq = static_cast<int64_t>(q) * q;
  for (int k = threadIdx.x; k < q; k += blockDim.x) {
    a[k] = a_cum[head * q + k];
    d[k] = dt[head * q + k];
  }
  __syncthreads();
  const float* cb_g = cb + group * qq;
  Out* out = scores + head * qq;
  for (int j = threadIdx.x; j < qq; j += blockDim.x) {
    const int t = j / q, s = j - t * q;
    store(out + j, chunk_score(cb_g[j], a[t], a[s], d[s], t, s));
  }
}

template <typename Grad>
__global__ void __launch_bounds__(kThreads) chunk_scores_backward_kernel(
    const Grad* __restrict__ d_scores, const float* __restrict__ cb, const float* __restrict__ a_cum,
    const float* __restrict__ dt, float* __restrict__ d_cb, float* __restrict__ d_a_cum, float* __restrict__ d_dt,
    int heads_per_group, int q) {
  __shared__ float g_tile[kTileElements], dt_tile[kTileElements];
  __shared__ float a[kChunkScoresMaxChunk], d[kChunkScoresMaxChunk];
  const int64_t group = blockIdx.x, qq = static_cast<int64_t>(q) * q;
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int tile_rows = min(q, kTileElements / q);
  for (int t0 = 0; t0 < q; t0 += tile_rows) {
    const int rows = min(tile_rows, q - t0), n = rows * q;
    const int64_t tile_offset = static_cast<int64_t>(t0) * q;
    float cb_reg[kElementsPerThread], dcb[kElementsPerThread];
#pragma unroll
    for (int k = 0; k < kElementsPerThread; ++k) {
      const int j = tid + k * kThreads;
      cb_reg[k] = j < n ? cb[group * qq + tile_offset + j] : 0.0f;
      dcb[k] = 0.0f;
    }
    for (int i = 0; i < heads_per_group; ++i) {
      const int64_t head = group * heads_per_group + i;
      __syncthreads();  // the previous head's sums are done with the shared tiles
      for (int k = tid; k < q; k += kThreads) {
        a[k] = a_cum[head * q + k];
        d[k] = dt[head * q + k];
      }
      __syncthreads();
      const Grad* ds = d_scores + head * qq + tile_offset;
#pragma unroll
      for (int k = 0; k < kElementsPerThread; ++k) {
        const int j = tid + k * kThreads;
        if (j < n) {
          const int t = t0 + j / q, s = j % q;
          float g = 0.0f, gdt = 0.0f;
          if (s <= t) {
            const ChunkScoreGrad r = chunk_score_grad(to_float(ds[j]), cb_reg[k], a[t], a[s], d[s]);
            dcb[k] += r.d_cb;
            g = r.g;
            gdt = r.d_dt;
          }
          g_tile[j] = g;
          dt_tile[j] = gdt;
        }
      }
      __syncthreads();
      // Column sums over the tile's rows: -g into d_a_cum[s], d_dt terms into d_dt[s].
      for (int s = tid; s < q; s += kThreads) {
        float g = 0.0f, gdt = 0.0f;
        for (int r = 0; r < rows; ++r) {
          g += g_tile[r * q + s];
          gdt += dt_tile[r * q + s];
        }
        d_a_cum[head * q + s] -= g;
        d_dt[head * q + s] += gdt;
      }
      __syncthreads();  // the column updates of d_a_cum land before the row updates
      // Row sums, a warp per row: +g into d_a_cum[t].
      for (int r = warp; r < rows; r += kWarps) {
        float g = 0.0f;
        for (int s = lane; s < q; s += 32) g += g_tile[r * q + s];
#pragma unroll
        for (int offset = 16; offset > 0; offset /= 2) g += __shfl_xor_sync(0xffffffffu, g, offset);
        if (lane == 0) d_a_cum[head * q + t0 + r] += g;
      }
    }
#pragma unroll
    for (int k = 0; k < kElementsPerThread; ++k) {
      const int j = tid + k * kThreads;
      if (j < n) d_cb[group * qq + tile_offset + j] = dcb[k];
    }
  }
}

template <typename Out>
cudaError_t forward(const float* cb, const float* a_cum, const float* dt, Out* scores, int64_t groups,
                    int heads_per_group, int q, cudaStream_t stream) {
  const int64_t heads = groups * heads_per_group;
  if (heads == 0 || q == 0) return cudaSuccess;
  if (q > kChunkScoresMaxChunk) return cudaErrorInvalidValue;
  chunk_scores_forward_kernel<Out><<<static_cast<unsigned>(heads), kThreads, 0, stream>>>(cb, a_cum, dt, scores,
                                                                                        heads_per_group, q);
  return cudaGetLastError();
}

template <typename Grad>
cudaError_t backward(const Grad* d_scores, const float* cb, const float* a_cum, const float* dt, float* d_cb,
                     float* d_a_cum, float* d_dt, int64_t groups, int heads_per_group, int q, cudaStream_t stream) {
  if (groups == 0 || q == 0) return cudaSuccess;
  if (q > kChunkScoresMaxChunk || heads_per_group > kChunkScoresMaxHeadsPerGroup) return cudaErrorInvalidValue;
  chunk_scores_backward_kernel<Grad><<<static_cast<unsigned>(groups), kThreads, 0, stream>>>(
      d_scores, cb, a_cum, dt, d_cb, d_a_cum, d_dt, heads_per_group, q);
  return cudaGetLastError();
}

}  // namespace

cudaError_t chunk_scores_forward(const float* cb, const float* a_cum, const float* dt, float* scores, int64_t groups,
                                 int heads_per_group, int q, cudaStream_t stream) {
  return forward(cb, a_cum, dt, scores, groups, heads_per_group, q, stream);
}

cudaError_t chunk_scores_forward(const float* cb, const float* a_cum, const float* dt, __nv_bfloat16* scores,
                                 int64_t groups, int heads_per_group, int q, cudaStream_t stream) {
  return forward(cb, a_cum, dt, scores, groups, heads_per_group, q, stream);
}

cudaError_t chunk_scores_backward(const float* d_scores, const float* cb, const float* a_cum, const float* dt,
                                  float* d_cb, float* d_a_cum, float* d_dt, int64_t groups, int heads_per_group, int q,
                                  cudaStream_t stream) {
  return backward(d_scores, cb, a_cum, dt, d_cb, d_a_cum, d_dt, groups, heads_per_group, q, stream);
}

cudaError_t chunk_scores_backward(const __nv_bfloat16* d_scores, const float* cb, const float* a_cum, const float* dt,
                                  float* d_cb, float* d_a_cum, float* d_dt, int64_t groups, int heads_per_group, int q,
                                  cudaStream_t stream) {
  return backward(d_scores, cb, a_cum, dt, d_cb, d_a_cum, d_dt, groups, heads_per_group, q, stream);
}

}  // namespace hetero
