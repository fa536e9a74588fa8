// CUDA kernels of the causal depthwise conv1d + bias + SiLU (math:
// causal_conv1d.h), over packed tokens in [tokens, channels] layout.
//
// Each thread owns 8 adjacent channels and a tile of tokens: a warp reads 256
// adjacent channels of a row (as 16-byte vectors where the width and the
// alignment allow) and the thread's taps stay in registers.
// Forward: walks down its tile keeping the K-1 previous input rows in
// registers, so each row is read once (plus K-1 halo rows per tile).
// Backward: walks up from the tile's last token + K-1 (the outputs whose
// gradient reaches the tile), recomputing each pre-activation from the input
// window and keeping the K following pre-activation gradients in registers;
// dw and db add up in registers and are written as one partial per tile,
// which the caller sums in order: deterministic, no float atomics.
#include "kernels/causal_conv1d_cuda.h"

#include <cstdint>
#include <initializer_list>
#include <type_traits>

#include "kernels/causal_conv1d.h"
#include "kernels/element.cuh"

namespace hetero {
namespace {

constexpr int kThreads = 128;
constexpr int kChannelsPerThread = 8;
constexpr int kForwardTile = 32;   // tokens per thread in the forward
constexpr int kBackwardTile = 64;  // tokens per thread, and per dw/db partial, in the backward

using Channels = float[kChannelsPerThread];

// Where a thread's channels lie within a row of a [tokens, groups, width]
// layout (a contiguous [tokens, channels] row: width = channels).
struct ChannelOffsets {
  int64_t at[kChannelsPerThread];
  int count;  // channels that exist: fewer than 8 only at a row's end, never on the vector path
};

__device__ __forceinline__ ChannelOffsets channel_offsets(int c0, int channels, int width, int64_t group_stride) {
  ChannelOffsets o;
  o.count = min(kChannelsPerThread, channels - c0);
#pragma unroll
  for (int i = 0; i < kChannelsPerThread; ++i) {
    const int c = min(c0 + i, channels - 1);
    o.at[i] = static_cast<int64_t>(c / width) * group_stride + c % width;
  }
  return o;
}

// 8 channels as one 16-byte vector (bf16) or two (fp32).
__device__ __forceinline__ void load8(const __nv_bfloat16* p, Channels& v) {
  const uint4 raw = *reinterpret_cast<const uint4*>(p);
  const __nv_bfloat162* pairs = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 f = __bfloat1622float2(pairs[i]);
    v[2 * i] = f.x;
    v[2 * i + 1] = f.y;
  }
}
__device__ __forceinline__ void load8(const float* p, Channels& v) {
  const float4 a = reinterpret_cast<const float4*>(p)[0], b = reinterpret_cast<const float4*>(p)[1];
  v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
}
__device__ __forceinline__ void store8(__nv_bfloat16* p, const Channels& v) {
  uint4 raw;
  __nv_bfloat162* pairs = reinterpret_cast<__nv_bfloat162*>(&raw);
#pragma unroll
  for (int i = 0; i < 4; ++i) pairs[i] = __floats2bfloat162_rn(v[2 * i], v[2 * i + 1]);
  *reinterpret_cast<uint4*>(p) = raw;
}
__device__ __forceinline__ void store8(float* p, const Channels& v) {
  reinterpret_cast<float4*>(p)[0] = make_float4(v[0], v[1], v[2], v[3]);
  reinterpret_cast<float4*>(p)[1] = make_float4(v[4], v[5], v[6], v[7]);
}

template <bool kVector, typename T>
__device__ __forceinline__ void load_row(const T* row, const ChannelOffsets& o, Channels& v) {
  if constexpr (kVector) {
    load8(row + o.at[0], v);
  } else {
#pragma unroll
    for (int i = 0; i < kChannelsPerThread; ++i) v[i] = i < o.count ? to_float(row[o.at[i]]) : 0.0f;
  }
}

template <bool kVector, typename T>
__device__ __forceinline__ void store_row(T* row, const ChannelOffsets& o, const Channels& v) {
  if constexpr (kVector) {
    store8(row + o.at[0], v);
  } else {
#pragma unroll
    for (int i = 0; i < kChannelsPerThread; ++i)
      if (i < o.count) row[o.at[i]] = from_float<T>(v[i]);
  }
}

// Input row r, or zeros where r lies before the sequence's start.
template <bool kVector, typename X>
__device__ __forceinline__ void load_input(const X* x, int64_t token_stride, const ChannelOffsets& o, int64_t r,
                                           int64_t start, Channels& v) {
  if (r >= start) {
    load_row<kVector>(x + r * token_stride, o, v);
  } else {
#pragma unroll
    for (int i = 0; i < kChannelsPerThread; ++i) v[i] = 0.0f;
  }
}

// The sequence holding token t: the last s with cu_seqlens[s] <= t.
__device__ __forceinline__ int64_t sequence_of(const int64_t* cu_seqlens, int64_t samples, int64_t t) {
  int64_t lo = 0, hi = samples - 1;
  while (lo < hi) {
    const int64_t mid = (lo + hi + 1) / 2;
    if (cu_seqlens[mid] <= t) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

template <int K>
__device__ __forceinline__ void load_taps(const float* weight, const float* bias, int c0, int channels,
                                          float (&w)[kChannelsPerThread][K], Channels& b) {
#pragma unroll
  for (int i = 0; i < kChannelsPerThread; ++i) {
    const bool in = c0 + i < channels;
    b[i] = in ? bias[c0 + i] : 0.0f;
#pragma unroll
    for (int k = 0; k < K; ++k) w[i][k] = in ? weight[static_cast<int64_t>(c0 + i) * K + k] : 0.0f;
  }
}

template <typename X, typename Out, int K, bool kVector>
__global__ void __launch_bounds__(kThreads) causal_conv1d_silu_forward_kernel(const X* __restrict__ x,
                                                                              const float* __restrict__ weight,
                                                                              const float* __restrict__ bias,
                                                                              const int64_t* __restrict__ cu_seqlens,
                                                                              Out* __restrict__ out,
                                                                              CausalConv1dShape shape) {
  const int channels = shape.groups * shape.width;
  const int c0 = (blockIdx.y * kThreads + threadIdx.x) * kChannelsPerThread;
  if (c0 >= channels) return;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * kForwardTile;
  const int64_t last = min(shape.tokens, first + kForwardTile);
  const ChannelOffsets in = channel_offsets(c0, channels, shape.width, shape.x_group_stride);
  const ChannelOffsets row = channel_offsets(c0, channels, channels, 0);
  float w[kChannelsPerThread][K];
  Channels b;
  load_taps<K>(weight, bias, c0, channels, w, b);
  int64_t s = sequence_of(cu_seqlens, shape.samples, first);
  int64_t start = cu_seqlens[s], end = cu_seqlens[s + 1];
  // window[i][k] = x[t - (K-1) + k] of channel c0 + i; first the K-1 rows before the tile.
  float window[kChannelsPerThread][K];
#pragma unroll
  for (int k = 0; k < K - 1; ++k) {
    Channels v;
    load_input<kVector>(x, shape.x_token_stride, in, first - (K - 1) + k, start, v);
#pragma unroll
    for (int i = 0; i < kChannelsPerThread; ++i) window[i][k] = v[i];
  }
  for (int64_t t = first; t < last; ++t) {
    if (t == end) {  // a new sequence: the rows before it read zero
      ++s;
      start = end;
      end = cu_seqlens[s + 1];
#pragma unroll
      for (int i = 0; i < kChannelsPerThread; ++i)
#pragma unroll
        for (int k = 0; k < K - 1; ++k) window[i][k] = 0.0f;
    }
    Channels v;
    load_row<kVector>(x + t * shape.x_token_stride, in, v);
#pragma unroll
    for (int i = 0; i < kChannelsPerThread; ++i) {
      window[i][K - 1] = v[i];
      v[i] = causal_conv_silu(causal_conv_pre(w[i], b[i], window[i], K));
#pragma unroll
      for (int k = 0; k < K - 1; ++k) window[i][k] = window[i][k + 1];
    }
    store_row<kVector>(out + t * channels, row, v);
  }
}

// Blocks per SM the backward asks registers for: left to itself nvcc gives
// the K = 4 backward (Mamba-2's kernel) 194 registers a thread, 2 blocks of
// 128 per SM; capped at 3 blocks (168 registers) it spills nothing and ran
// 262 us where it ran 349 on an H100 (the mamba8 conv at seq 4096; tiles of
// 16 and 32 tokens and 4 blocks, with spills, were no faster). Other kernel
// widths and the scalar path keep their registers: capped, they spill.
constexpr int backward_min_blocks_per_sm(int k, bool vector) { return k == 4 && vector ? 3 : 1; }

template <typename X, typename Out, int K, bool kVector>
__global__ void __launch_bounds__(kThreads, backward_min_blocks_per_sm(K, kVector)) causal_conv1d_silu_backward_kernel(
    const Out* __restrict__ d_out, const X* __restrict__ x, const float* __restrict__ weight,
    const float* __restrict__ bias, const int64_t* __restrict__ cu_seqlens, X* __restrict__ dx,
    float* __restrict__ partial, CausalConv1dShape shape) {
  const int channels = shape.groups * shape.width;
  const int c0 = (blockIdx.y * kThreads + threadIdx.x) * kChannelsPerThread;
  if (c0 >= channels) return;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * kBackwardTile;
  const int64_t last = min(shape.tokens, first + kBackwardTile);
  const int64_t top = min(shape.tokens, last + (K - 1)) - 1;  // the last output whose gradient reaches the tile
  const ChannelOffsets in = channel_offsets(c0, channels, shape.width, shape.x_group_stride);
  const ChannelOffsets row = channel_offsets(c0, channels, channels, 0);
  const ChannelOffsets dx_at = channel_offsets(c0, channels, shape.width, shape.dx_group_stride);
  float w[kChannelsPerThread][K];
  Channels b;
  load_taps<K>(weight, bias, c0, channels, w, b);
  // window[i][k] = x[u - (K-1) + k]; g_window[i][j] = g[u + j], the
  // pre-activation gradients, zeros past the end of u's sequence.
  float window[kChannelsPerThread][K], g_window[kChannelsPerThread][K], dw[kChannelsPerThread][K];
  Channels db;
#pragma unroll
  for (int i = 0; i < kChannelsPerThread; ++i) {
    db[i] = 0.0f;
#pragma unroll
    for (int k = 0; k < K; ++k) g_window[i][k] = dw[i][k] = 0.0f;
  }
  int64_t s = sequence_of(cu_seqlens, shape.samples, top), start = cu_seqlens[s];
  bool reload = true;
  for (int64_t u = top; u >= first; --u) {
    if (u < start) {  // the previous sequence: nothing after u reaches it
      --s;
      start = cu_seqlens[s];
      reload = true;
#pragma unroll
      for (int i = 0; i < kChannelsPerThread; ++i)
#pragma unroll
        for (int k = 0; k < K; ++k) g_window[i][k] = 0.0f;
    }
    if (reload) {
#pragma unroll
      for (int k = 0; k < K; ++k) {
        Channels v;
        load_input<kVector>(x, shape.x_token_stride, in, u - (K - 1) + k, start, v);
#pragma unroll
        for (int i = 0; i < kChannelsPerThread; ++i) window[i][k] = v[i];
      }
      reload = false;
    }
    Channels v;
    load_row<kVector>(d_out + u * channels, row, v);
#pragma unroll
    for (int i = 0; i < kChannelsPerThread; ++i) {
      const float g = causal_conv_pre_grad(v[i], causal_conv_pre(w[i], b[i], window[i], K));
#pragma unroll
      for (int j = K - 1; j > 0; --j) g_window[i][j] = g_window[i][j - 1];
      g_window[i][0] = g;
    }
    if (u < last) {
#pragma unroll
      for (int i = 0; i < kChannelsPerThread; ++i) {
        v[i] = causal_conv_dx(w[i], g_window[i], K);
        db[i] += g_window[i][0];
#pragma unroll
        for (int k = 0; k < K; ++k) dw[i][k] += g_window[i][0] * window[i][k];
      }
      store_row<kVector>(dx + u * shape.dx_token_stride, dx_at, v);
    }
    // Slide the window down to u - 1: one new row (a new sequence reloads it above).
    Channels below;
    load_input<kVector>(x, shape.x_token_stride, in, u - K, start, below);
#pragma unroll
    for (int i = 0; i < kChannelsPerThread; ++i) {
#pragma unroll
      for (int k = K - 1; k > 0; --k) window[i][k] = window[i][k - 1];
      window[i][0] = below[i];
    }
  }
  // [tiles, K + 1, channels]: rows of adjacent channels, so the stores coalesce.
  float* tile = partial + static_cast<int64_t>(blockIdx.x) * (K + 1) * channels;
#pragma unroll
  for (int k = 0; k < K; ++k) {
    Channels v;
#pragma unroll
    for (int i = 0; i < kChannelsPerThread; ++i) v[i] = dw[i][k];
    store_row<kVector>(tile + static_cast<int64_t>(k) * channels, row, v);
  }
  store_row<kVector>(tile + static_cast<int64_t>(K) * channels, row, db);
}

bool valid(const CausalConv1dShape& s) {
  return s.kernel >= 1 && s.kernel <= kCausalConv1dMaxKernel && s.groups > 0 && s.width > 0 && s.samples > 0 &&
         s.tokens >= 0;
}

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

// Whether rows and groups of a [tokens, groups, width] layout with these
// strides start on 16-byte vectors of X (given an aligned base).
template <typename X>
bool vector_strides(const CausalConv1dShape& s, int64_t token_stride, int64_t group_stride) {
  const int64_t per_vector = 16 / static_cast<int64_t>(sizeof(X));
  return token_stride % per_vector == 0 && (s.groups == 1 || group_stride % per_vector == 0);
}

// 16-byte vectors: a thread's 8 channels lie contiguous within one group and
// every row they are read from or written to starts 16-byte aligned. `dx`:
// the backward's gradient, in its own strides, or nullptr in the forward.
template <typename X>
bool vectorizable(const CausalConv1dShape& s, const X* x, const X* dx, std::initializer_list<const void*> contiguous) {
  if (s.width % kChannelsPerThread != 0 || !vector_strides<X>(s, s.x_token_stride, s.x_group_stride) ||
      !aligned16(x))
    return false;
  if (dx && (!vector_strides<X>(s, s.dx_token_stride, s.dx_group_stride) || !aligned16(dx))) return false;
  for (const void* p : contiguous)
    if (!aligned16(p)) return false;
  return true;
}

// f(taps, vector) with the kernel's tap count and vector choice as types.
template <typename F>
cudaError_t dispatch(int kernel, bool vector, F&& f) {
  const auto with_vector = [&](auto taps) -> cudaError_t {
    return vector ? f(taps, std::true_type()) : f(taps, std::false_type());
  };
  switch (kernel) {
    case 1: return with_vector(std::integral_constant<int, 1>());
    case 2: return with_vector(std::integral_constant<int, 2>());
    case 3: return with_vector(std::integral_constant<int, 3>());
    case 4: return with_vector(std::integral_constant<int, 4>());
    case 5: return with_vector(std::integral_constant<int, 5>());
    case 6: return with_vector(std::integral_constant<int, 6>());
    case 7: return with_vector(std::integral_constant<int, 7>());
    case 8: return with_vector(std::integral_constant<int, 8>());
    default: return cudaErrorInvalidValue;
  }
}

dim3 grid_of(const CausalConv1dShape& s, int tile) {
  const int64_t channels = static_cast<int64_t>(s.groups) * s.width;
  const int64_t per_block = static_cast<int64_t>(kThreads) * kChannelsPerThread;
  return dim3(static_cast<unsigned>((s.tokens + tile - 1) / tile),
              static_cast<unsigned>((channels + per_block - 1) / per_block));
}

}  // namespace

int64_t causal_conv1d_partial_tiles(int64_t tokens) { return (tokens + kBackwardTile - 1) / kBackwardTile; }

template <typename X, typename Out>
cudaError_t causal_conv1d_silu_forward(const X* x, const float* weight, const float* bias, const int64_t* cu_seqlens,
                                       Out* out, const CausalConv1dShape& shape, cudaStream_t stream) {
  if (!valid(shape)) return cudaErrorInvalidValue;
  if (shape.tokens == 0) return cudaSuccess;
  const dim3 grid = grid_of(shape, kForwardTile);
  const bool vectors = vectorizable(shape, x, static_cast<const X*>(nullptr), {out});
  return dispatch(shape.kernel, vectors, [&](auto taps, auto vector) {
    causal_conv1d_silu_forward_kernel<X, Out, decltype(taps)::value, decltype(vector)::value>
        <<<grid, kThreads, 0, stream>>>(x, weight, bias, cu_seqlens, out, shape);
    return cudaGetLastError();
  });
}

template <typename X, typename Out>
cudaError_t causal_conv1d_silu_backward(const Out* d_out, const X* x, const float* weight, const float* bias,
                                        const int64_t* cu_seqlens, X* dx, float* partial,
                                        const CausalConv1dShape& shape, cudaStream_t stream) {
  if (!valid(shape)) return cudaErrorInvalidValue;
  if (shape.tokens == 0) return cudaSuccess;
  const dim3 grid = grid_of(shape, kBackwardTile);
  const bool vectors = vectorizable(shape, x, dx, {d_out, partial});
  return dispatch(shape.kernel, vectors, [&](auto taps, auto vector) {
    causal_conv1d_silu_backward_kernel<X, Out, decltype(taps)::value, decltype(vector)::value>
        <<<grid, kThreads, 0, stream>>>(d_out, x, weight, bias, cu_seqlens, dx, partial, shape);
    return cudaGetLastError();
  });
}

#define HETERO_CAUSAL_CONV1D_INSTANTIATE(X, Out)                                                                    \
  template cudaError_t causal_conv1d_silu_forward<X, Out>(const X*, const float*, const float*, const int64_t*,     \
                                                          Out*, const CausalConv1dShape&, cudaStream_t);            \
  template cudaError_t causal_conv1d_silu_backward<X, Out>(const Out*, const X*, const float*, const float*,        \
                                                           const int64_t*, X*, float*, const CausalConv1dShape&,    \
                                                           cudaStream_t);
HETERO_CAUSAL_CONV1D_INSTANTIATE(float, float)
HETERO_CAUSAL_CONV1D_INSTANTIATE(float, __nv_bfloat16)
HETERO_CAUSAL_CONV1D_INSTANTIATE(__nv_bfloat16, float)
HETERO_CAUSAL_CONV1D_INSTANTIATE(__nv_bfloat16, __nv_bfloat16)
#undef HETERO_CAUSAL_CONV1D_INSTANTIATE

}  // namespace hetero
