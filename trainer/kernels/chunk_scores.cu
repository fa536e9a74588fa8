// CUDA kernels of the SSD chunk scores (math: chunk_scores.h).
//
// Forward: one block per (chunk, group, head), a thread per output element
// (grid-stride over q * q), the head's a_cum and dt in shared memory.
//
// Backward, two kernels, deterministic (every sum in a fixed order, no
// atomics):
//  1. One block of 256 threads per (chunk-group, tile of R rows). A row of
//     the tile belongs to L consecutive lanes of one warp (L = 8, 16 or 32,
//     the least power of two with 8 L >= q; R = 256 / L, so 16 rows at
//     q = 128), and each lane owns 8 consecutive columns of its row. The
//     lane keeps its CB and d_CB elements in registers and loops over the
//     group's hg heads, reading d_scores with 16-byte loads (8 bf16 or 2 x 4
//     fp32; scalar loads where q % 8 != 0 or a pointer is unaligned),
//     prefetching the next head's while it computes this one's. Vectors
//     wholly above the diagonal are neither read nor computed. Per head:
//     the row sum of g = d_score * score (into d_a_cum[t]) comes from a
//     shuffle over the row's L lanes and is stored to the workspace's row
//     part; the column sums over the tile's rows (of g, into d_a_cum[s]
//     with -, and of the d_dt terms) go by shuffles over the warp's rows
//     into shared memory (double-buffered by head parity: one
//     __syncthreads per head), and 2 q threads sum the 8 warps' partials
//     and store them to the workspace's column part, [hg * groups, tiles,
//     q] for each of the two, columns the tile's triangle cannot reach
//     left unwritten. d_CB is written once, after the last head.
//  2. A thread per (head, s) adds the row sum and, in tile order, the
//     tiles' column partials that can be non-zero (tiles k >= s / R) into
//     d_a_cum and d_dt.
// At the 20L shape (groups 256, hg 16, q 128, bf16) that is 2,048 blocks
// reading only d_scores' lower triangle once.
#include "kernels/chunk_scores_cuda.h"

#include "kernels/chunk_scores.h"
#include "kernels/element.cuh"

namespace hetero {
namespace {

constexpr int kThreads = 256;

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

// Backward (see the top of the file): kThreads threads, 8 warps; a row takes
// L lanes, a lane 8 columns, so q <= 8 * 32.
constexpr int kBackwardWarps = kThreads / 32;
static_assert(kChunkScoresMaxChunk <= 8 * 32, "a row of the longest chunk fits one warp's lanes");

// Rows per tile and tiles per chunk of q steps for the lanes-per-row L.
__host__ __device__ constexpr int backward_tile_rows(int lanes_per_row) { return kThreads / lanes_per_row; }
int backward_lanes_per_row(int q) { return q <= 64 ? 8 : q <= 128 ? 16 : 32; }
int backward_tiles(int q) {
  const int rows = backward_tile_rows(backward_lanes_per_row(q));
  return (q + rows - 1) / rows;
}

// 8 bf16 (a 16-byte word) as floats; element 2k is the low half of word k.
__device__ __forceinline__ void unpack_bf16x8(const uint4& w, float (&f)[8]) {
  const uint32_t u[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    f[2 * k] = __uint_as_float(u[k] << 16);
    f[2 * k + 1] = __uint_as_float(u[k] & 0xffff0000u);
  }
}

// The sum of v over the `width` consecutive lanes of its segment (width a
// power of two <= 32), on every lane of the segment, in a fixed order.
template <int Width>
__device__ __forceinline__ float segment_sum(float v) {
#pragma unroll
  for (int offset = Width / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// One lane's inputs of one head: its 8 d_scores (raw: 16-byte words on the
// vector path, floats otherwise), a_cum at its row, a_cum and dt at its
// columns.
template <typename Grad, bool Vec>
struct HeadInputs {
  static constexpr int kWords = Vec ? static_cast<int>(sizeof(Grad)) * 8 / 16 : 0;
  uint4 raw[Vec ? kWords : 1];
  float ds[8], a_t, a_s[8], d_s[8];
};

template <typename Grad, bool Vec>
__device__ __forceinline__ void load_head(HeadInputs<Grad, Vec>& in, const Grad* __restrict__ ds,
                                          const float* __restrict__ a, const float* __restrict__ d, int t, int s0,
                                          int q, bool active) {
  if (!active) return;
  in.a_t = __ldg(a + t);
  if constexpr (Vec) {
    const uint4* w = reinterpret_cast<const uint4*>(ds + static_cast<int64_t>(t) * q + s0);
#pragma unroll
    for (int k = 0; k < HeadInputs<Grad, Vec>::kWords; ++k) in.raw[k] = __ldg(w + k);
    const float4* av = reinterpret_cast<const float4*>(a + s0);
    const float4* dv = reinterpret_cast<const float4*>(d + s0);
#pragma unroll
    for (int k = 0; k < 2; ++k) {
      const float4 x = __ldg(av + k), y = __ldg(dv + k);
      in.a_s[4 * k] = x.x, in.a_s[4 * k + 1] = x.y, in.a_s[4 * k + 2] = x.z, in.a_s[4 * k + 3] = x.w;
      in.d_s[4 * k] = y.x, in.d_s[4 * k + 1] = y.y, in.d_s[4 * k + 2] = y.z, in.d_s[4 * k + 3] = y.w;
    }
  } else {
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const bool in_row = s0 + j < q;
      in.ds[j] = in_row ? to_float(ds[static_cast<int64_t>(t) * q + s0 + j]) : 0.0f;
      in.a_s[j] = in_row ? __ldg(a + s0 + j) : 0.0f;
      in.d_s[j] = in_row ? __ldg(d + s0 + j) : 0.0f;
    }
  }
}

template <typename Grad, bool Vec>
__device__ __forceinline__ void unpack_scores(const HeadInputs<Grad, Vec>& in, float (&f)[8]) {
  if constexpr (!Vec) {
#pragma unroll
    for (int j = 0; j < 8; ++j) f[j] = in.ds[j];
  } else if constexpr (sizeof(Grad) == 2) {
    unpack_bf16x8(in.raw[0], f);
  } else {
#pragma unroll
    for (int k = 0; k < 2; ++k) {
      f[4 * k] = __uint_as_float(in.raw[k].x), f[4 * k + 1] = __uint_as_float(in.raw[k].y);
      f[4 * k + 2] = __uint_as_float(in.raw[k].z), f[4 * k + 3] = __uint_as_float(in.raw[k].w);
    }
  }
}

// Kernel 1. workspace: rows [heads, q], then the column partials of g and
// of the d_dt terms, each [heads, tiles, q].
template <typename Grad, int L, bool Vec>
__global__ void __launch_bounds__(kThreads) chunk_scores_backward_tiles_kernel(
    const Grad* __restrict__ d_scores, const float* __restrict__ cb, const float* __restrict__ a_cum,
    const float* __restrict__ dt, float* __restrict__ d_cb, float* __restrict__ workspace, int heads_per_group, int q,
    int tiles) {
  constexpr int kRowsPerWarp = 32 / L, kRows = backward_tile_rows(L);
  // [head parity][warp][g, d_dt][column]
  __shared__ __align__(16) float partial[2][kBackwardWarps][2][8 * L];
  const int64_t group = blockIdx.x / tiles, qq = static_cast<int64_t>(q) * q;
  const int tile = static_cast<int>(blockIdx.x % tiles);
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int row_in_warp = lane / L, s0 = 8 * (lane % L);
  const int t = tile * kRows + warp * kRowsPerWarp + row_in_warp;
  const int t_end = min(q, (tile + 1) * kRows);  // columns >= t_end are zero in every row of the tile
  const bool active = t < q && s0 < q && s0 <= t;

  float cb_reg[8], dcb[8];
#pragma unroll
  for (int j = 0; j < 8; ++j) cb_reg[j] = 0.0f, dcb[j] = 0.0f;
  const float* cb_row = cb + group * qq + static_cast<int64_t>(t) * q + s0;
  if (active) {
    if constexpr (Vec) {
      const float4 x = __ldg(reinterpret_cast<const float4*>(cb_row)),
                   y = __ldg(reinterpret_cast<const float4*>(cb_row) + 1);
      cb_reg[0] = x.x, cb_reg[1] = x.y, cb_reg[2] = x.z, cb_reg[3] = x.w;
      cb_reg[4] = y.x, cb_reg[5] = y.y, cb_reg[6] = y.z, cb_reg[7] = y.w;
    } else {
#pragma unroll
      for (int j = 0; j < 8; ++j) cb_reg[j] = s0 + j < q ? __ldg(cb_row + j) : 0.0f;
    }
  }

  const int64_t head0 = group * heads_per_group, total_heads = gridDim.x / tiles * static_cast<int64_t>(heads_per_group);
  float* ws_rows = workspace;
  float* ws_g = workspace + total_heads * q;
  float* ws_dt = ws_g + total_heads * tiles * q;

  HeadInputs<Grad, Vec> next;
  load_head(next, d_scores + head0 * qq, a_cum + head0 * q, dt + head0 * q, t, s0, q, active);
  for (int i = 0; i < heads_per_group; ++i) {
    const int64_t head = head0 + i;
    const HeadInputs<Grad, Vec> cur = next;
    if (i + 1 < heads_per_group)
      load_head(next, d_scores + (head + 1) * qq, a_cum + (head + 1) * q, dt + (head + 1) * q, t, s0, q, active);
    float g[8], gd[8];
#pragma unroll
    for (int j = 0; j < 8; ++j) g[j] = 0.0f, gd[j] = 0.0f;
    if (active) {
      float ds[8];
      unpack_scores(cur, ds);
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        if (s0 + j <= t && s0 + j < q) {
          const ChunkScoreGrad r = chunk_score_grad(ds[j], cb_reg[j], cur.a_t, cur.a_s[j], cur.d_s[j]);
          dcb[j] += r.d_cb;
          g[j] = r.g;
          gd[j] = r.d_dt;
        }
      }
    }
    // Row sum of g over the row's L lanes: into d_a_cum[t] (through the workspace).
    float row = 0.0f;
#pragma unroll
    for (int j = 0; j < 8; ++j) row += g[j];
    row = segment_sum<L>(row);
    if (lane % L == 0 && t < q) ws_rows[head * q + t] = row;
    // Column sums over the warp's rows. With 2 or more rows a warp, the first
    // step swaps halves: rows with bit L of the lane clear keep g, the others
    // the d_dt terms, and later steps add within each kind.
    float* buf = partial[i & 1][warp][0];
    if constexpr (kRowsPerWarp == 1) {
      float4* pg = reinterpret_cast<float4*>(buf + s0);
      float4* pd = reinterpret_cast<float4*>(buf + 8 * L + s0);
      pg[0] = make_float4(g[0], g[1], g[2], g[3]), pg[1] = make_float4(g[4], g[5], g[6], g[7]);
      pd[0] = make_float4(gd[0], gd[1], gd[2], gd[3]), pd[1] = make_float4(gd[4], gd[5], gd[6], gd[7]);
    } else {
      const bool keeps_dt = (lane & L) != 0;
      float col[8];
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const float mine = keeps_dt ? gd[j] : g[j], theirs = keeps_dt ? g[j] : gd[j];
        col[j] = mine + __shfl_xor_sync(0xffffffffu, theirs, L);
      }
#pragma unroll
      for (int offset = 2 * L; offset < 32; offset *= 2) {
#pragma unroll
        for (int j = 0; j < 8; ++j) col[j] += __shfl_xor_sync(0xffffffffu, col[j], offset);
      }
      if (row_in_warp < 2) {
        float4* p = reinterpret_cast<float4*>(buf + (keeps_dt ? 8 * L : 0) + s0);
        p[0] = make_float4(col[0], col[1], col[2], col[3]), p[1] = make_float4(col[4], col[5], col[6], col[7]);
      }
    }
    __syncthreads();  // the warps' partials of this head are in; the buffer of head i - 1 is free again
    for (int k = tid; k < 2 * t_end; k += kThreads) {
      const int kind = k >= t_end, s = k - kind * t_end;
      float sum = 0.0f;
#pragma unroll
      for (int w = 0; w < kBackwardWarps; ++w) sum += partial[i & 1][w][kind][s];
      (kind ? ws_dt : ws_g)[(head * tiles + tile) * q + s] = sum;
    }
  }
  if (t < q) {
    float* out = d_cb + group * qq + static_cast<int64_t>(t) * q + s0;
    if constexpr (Vec) {
      if (s0 < q) {
        reinterpret_cast<float4*>(out)[0] = make_float4(dcb[0], dcb[1], dcb[2], dcb[3]);
        reinterpret_cast<float4*>(out)[1] = make_float4(dcb[4], dcb[5], dcb[6], dcb[7]);
      }
    } else {
#pragma unroll
      for (int j = 0; j < 8; ++j)
        if (s0 + j < q) out[j] = dcb[j];
    }
  }
}

// Kernel 2: a thread per (head, s).
__global__ void __launch_bounds__(kThreads) chunk_scores_backward_sum_kernel(const float* __restrict__ workspace,
                                                                             float* __restrict__ d_a_cum,
                                                                             float* __restrict__ d_dt, int64_t heads,
                                                                             int q, int tiles, int tile_rows) {
  const int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= heads * q) return;
  const int64_t head = k / q;
  const int s = static_cast<int>(k - head * q);
  const float* ws_g = workspace + heads * q + head * tiles * q + s;
  const float* ws_dt = ws_g + heads * tiles * q;
  float g = 0.0f, gd = 0.0f;
  for (int tile = s / tile_rows; tile < tiles; ++tile) {
    g += ws_g[static_cast<int64_t>(tile) * q];
    gd += ws_dt[static_cast<int64_t>(tile) * q];
  }
  d_a_cum[k] += workspace[k] - g;
  d_dt[k] += gd;
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

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

template <typename Grad, int L>
void launch_tiles(const Grad* d_scores, const float* cb, const float* a_cum, const float* dt, float* d_cb,
                  float* workspace, unsigned blocks, int heads_per_group, int q, int tiles, cudaStream_t stream) {
  const bool vec = q % 8 == 0 && aligned16(d_scores) && aligned16(cb) && aligned16(a_cum) && aligned16(dt) &&
                   aligned16(d_cb);
  if (vec) {
    chunk_scores_backward_tiles_kernel<Grad, L, true>
        <<<blocks, kThreads, 0, stream>>>(d_scores, cb, a_cum, dt, d_cb, workspace, heads_per_group, q, tiles);
  } else {
    chunk_scores_backward_tiles_kernel<Grad, L, false>
        <<<blocks, kThreads, 0, stream>>>(d_scores, cb, a_cum, dt, d_cb, workspace, heads_per_group, q, tiles);
  }
}

template <typename Grad>
cudaError_t backward(const Grad* d_scores, const float* cb, const float* a_cum, const float* dt, float* d_cb,
                     float* d_a_cum, float* d_dt, float* workspace, int64_t groups, int heads_per_group, int q,
                     cudaStream_t stream) {
  if (groups == 0 || q == 0) return cudaSuccess;
  if (q < 0 || q > kChunkScoresMaxChunk || heads_per_group < 0 || heads_per_group > kChunkScoresMaxHeadsPerGroup)
    return cudaErrorInvalidValue;
  const int lanes = backward_lanes_per_row(q), tiles = backward_tiles(q);
  const int64_t blocks = groups * tiles, heads = groups * heads_per_group;
  if (blocks > 0x7fffffff || (heads * q + kThreads - 1) / kThreads > 0x7fffffff) return cudaErrorInvalidValue;
  if (heads == 0) {  // nothing to add into d_a_cum and d_dt; d_cb is zero
    return cudaMemsetAsync(d_cb, 0, static_cast<size_t>(groups) * q * q * sizeof(float), stream);
  }
  const unsigned b = static_cast<unsigned>(blocks);
  if (lanes == 8) {
    launch_tiles<Grad, 8>(d_scores, cb, a_cum, dt, d_cb, workspace, b, heads_per_group, q, tiles, stream);
  } else if (lanes == 16) {
    launch_tiles<Grad, 16>(d_scores, cb, a_cum, dt, d_cb, workspace, b, heads_per_group, q, tiles, stream);
  } else {
    launch_tiles<Grad, 32>(d_scores, cb, a_cum, dt, d_cb, workspace, b, heads_per_group, q, tiles, stream);
  }
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return err;
  chunk_scores_backward_sum_kernel<<<static_cast<unsigned>((heads * q + kThreads - 1) / kThreads), kThreads, 0,
                                     stream>>>(workspace, d_a_cum, d_dt, heads, q, tiles,
                                               backward_tile_rows(lanes));
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

int64_t chunk_scores_backward_workspace_floats(int64_t groups, int heads_per_group, int q) {
  if (groups <= 0 || heads_per_group <= 0 || q <= 0 || q > kChunkScoresMaxChunk) return 0;
  return groups * heads_per_group * q * (1 + 2 * static_cast<int64_t>(backward_tiles(q)));
}

cudaError_t chunk_scores_backward(const float* d_scores, const float* cb, const float* a_cum, const float* dt,
                                  float* d_cb, float* d_a_cum, float* d_dt, float* workspace, int64_t groups,
                                  int heads_per_group, int q, cudaStream_t stream) {
  return backward(d_scores, cb, a_cum, dt, d_cb, d_a_cum, d_dt, workspace, groups, heads_per_group, q, stream);
}

cudaError_t chunk_scores_backward(const __nv_bfloat16* d_scores, const float* cb, const float* a_cum, const float* dt,
                                  float* d_cb, float* d_a_cum, float* d_dt, float* workspace, int64_t groups,
                                  int heads_per_group, int q, cudaStream_t stream) {
  return backward(d_scores, cb, a_cum, dt, d_cb, d_a_cum, d_dt, workspace, groups, heads_per_group, q, stream);
}

}  // namespace hetero
