// The MoE dispatch and combine in one pass each way (math and layouts:
// moe_routing_cuda.h): a warp per output row, its lanes over the hidden
// channels, 8 at a time as 16-byte vectors where the rows allow it. Every
// output element has one writer and the sums over a token's choices run in
// choice order in fp32: no atomics, deterministic. The products and sums
// are rounded separately (__fmul_rn, __fadd_rn: no FMA contraction), as
// ATen's broadcast multiply and sum form them.
#include "kernels/moe_routing_cuda.h"

#include "kernels/element.cuh"
#include "kernels/grid.h"

namespace hetero {
namespace {

constexpr int kThreads = 256, kWarps = kThreads / 32;

// V consecutive elements of a row as fp32: V = 8, one or two 16-byte
// vectors (element.cuh); V = 1, one element.
template <int V>
struct Chunk;
template <>
struct Chunk<8> {
  template <typename T>
  static __device__ __forceinline__ void load(const T* p, float (&v)[8]) {
    load8(p, v);
  }
  template <typename T>
  static __device__ __forceinline__ void store(T* p, const float (&v)[8]) {
    store8(p, v);
  }
};
template <>
struct Chunk<1> {
  template <typename T>
  static __device__ __forceinline__ void load(const T* p, float (&v)[1]) {
    v[0] = to_float(*p);
  }
  template <typename T>
  static __device__ __forceinline__ void store(T* p, const float (&v)[1]) {
    *p = from_float<T>(v[0]);
  }
};

// The warps of the grid, each taking every (total warps)-th item.
__device__ __forceinline__ int64_t first_item() {
  return static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32;
}
__device__ __forceinline__ int64_t item_stride() { return static_cast<int64_t>(gridDim.x) * kWarps; }

template <typename T, int V>
__global__ void __launch_bounds__(kThreads) dispatch_forward_kernel(const T* __restrict__ x,
                                                                    const int64_t* __restrict__ order,
                                                                    T* __restrict__ rows, MoeRoutingShape s) {
  const int lane = threadIdx.x % 32;
  for (int64_t row = first_item(); row < s.slots(); row += item_stride()) {
    const T* src = x + moe_token_of_row(order, row, s.k) * s.hidden;
    T* dst = rows + row * s.hidden;
    for (int64_t c = lane * V; c < s.hidden; c += 32 * V) {
      float v[V];
      Chunk<V>::load(src + c, v);
      Chunk<V>::store(dst + c, v);
    }
  }
}

template <typename T, int V>
__global__ void __launch_bounds__(kThreads) dispatch_backward_kernel(const T* __restrict__ d_rows,
                                                                     const int64_t* __restrict__ inverse,
                                                                     T* __restrict__ dx, MoeRoutingShape s) {
  const int lane = threadIdx.x % 32;
  for (int64_t t = first_item(); t < s.tokens; t += item_stride()) {
    for (int64_t c = lane * V; c < s.hidden; c += 32 * V) {
      float sum[V] = {};
      for (int64_t choice = 0; choice < s.k; ++choice) {
        float v[V];
        Chunk<V>::load(d_rows + moe_row_of_slot(inverse, t, choice, s.k) * s.hidden + c, v);
#pragma unroll
        for (int i = 0; i < V; ++i) sum[i] = __fadd_rn(sum[i], v[i]);
      }
      Chunk<V>::store(dx + t * s.hidden + c, sum);
    }
  }
}

template <typename T, int V>
__global__ void __launch_bounds__(kThreads)
    combine_forward_kernel(const T* __restrict__ sorted, const int64_t* __restrict__ inverse,
                           const float* __restrict__ weights, float* __restrict__ y, MoeRoutingShape s) {
  const int lane = threadIdx.x % 32;
  for (int64_t t = first_item(); t < s.tokens; t += item_stride()) {
    for (int64_t c = lane * V; c < s.hidden; c += 32 * V) {
      float sum[V] = {};
      for (int64_t choice = 0; choice < s.k; ++choice) {
        const float w = weights[t * s.k + choice];
        float v[V];
        Chunk<V>::load(sorted + moe_row_of_slot(inverse, t, choice, s.k) * s.hidden + c, v);
#pragma unroll
        for (int i = 0; i < V; ++i) sum[i] = __fadd_rn(sum[i], __fmul_rn(v[i], w));
      }
      Chunk<V>::store(y + t * s.hidden + c, sum);
    }
  }
}

// A warp per slot, slots in token order: the k warps reading one token's dy
// run side by side, so its row comes from L2 after the first.
template <typename T, int V>
__global__ void __launch_bounds__(kThreads)
    combine_backward_kernel(const float* __restrict__ dy, const T* __restrict__ sorted,
                            const int64_t* __restrict__ inverse, const float* __restrict__ weights,
                            T* __restrict__ d_sorted, float* __restrict__ d_weights, MoeRoutingShape s) {
  const int lane = threadIdx.x % 32;
  for (int64_t slot = first_item(); slot < s.slots(); slot += item_stride()) {
    const int64_t row = inverse[slot];
    const float w = weights[slot];
    const float* g_row = dy + slot / s.k * s.hidden;
    float dot = 0.0f;
    for (int64_t c = lane * V; c < s.hidden; c += 32 * V) {
      float g[V], v[V], d[V];
      Chunk<V>::load(g_row + c, g);
      Chunk<V>::load(sorted + row * s.hidden + c, v);
#pragma unroll
      for (int i = 0; i < V; ++i) {
        d[i] = __fmul_rn(g[i], w);
        dot += g[i] * v[i];
      }
      Chunk<V>::store(d_sorted + row * s.hidden + c, d);
    }
    dot = warp_sum(dot);
    if (lane == 0) d_weights[slot] = dot;
  }
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// 16-byte vectors where every row of every row array starts on a 16-byte boundary.
template <typename... P>
bool vectorized(const MoeRoutingShape& s, const P*... rows) {
  return s.hidden % 8 == 0 && (aligned16(rows) && ...);
}

unsigned blocks_for(int64_t items) { return static_cast<unsigned>(grid_stride_blocks(items, kWarps, 32)); }

}  // namespace

template <typename T>
cudaError_t moe_dispatch_forward(const T* x, const int64_t* order, T* rows, const MoeRoutingShape& s,
                                 cudaStream_t stream) {
  if (s.slots() == 0 || s.hidden == 0) return cudaSuccess;
  if (vectorized(s, x, rows))
    dispatch_forward_kernel<T, 8><<<blocks_for(s.slots()), kThreads, 0, stream>>>(x, order, rows, s);
  else
    dispatch_forward_kernel<T, 1><<<blocks_for(s.slots()), kThreads, 0, stream>>>(x, order, rows, s);
  return cudaGetLastError();
}

template <typename T>
cudaError_t moe_dispatch_backward(const T* d_rows, const int64_t* inverse, T* dx, const MoeRoutingShape& s,
                                  cudaStream_t stream) {
  if (s.tokens == 0 || s.hidden == 0) return cudaSuccess;
  if (vectorized(s, d_rows, dx))
    dispatch_backward_kernel<T, 8><<<blocks_for(s.tokens), kThreads, 0, stream>>>(d_rows, inverse, dx, s);
  else
    dispatch_backward_kernel<T, 1><<<blocks_for(s.tokens), kThreads, 0, stream>>>(d_rows, inverse, dx, s);
  return cudaGetLastError();
}

template <typename T>
cudaError_t moe_combine_forward(const T* sorted, const int64_t* inverse, const float* weights, float* y,
                                const MoeRoutingShape& s, cudaStream_t stream) {
  if (s.tokens == 0 || s.hidden == 0) return cudaSuccess;
  if (vectorized(s, sorted, y))
    combine_forward_kernel<T, 8><<<blocks_for(s.tokens), kThreads, 0, stream>>>(sorted, inverse, weights, y, s);
  else
    combine_forward_kernel<T, 1><<<blocks_for(s.tokens), kThreads, 0, stream>>>(sorted, inverse, weights, y, s);
  return cudaGetLastError();
}

template <typename T>
cudaError_t moe_combine_backward(const float* dy, const T* sorted, const int64_t* inverse, const float* weights,
                                 T* d_sorted, float* d_weights, const MoeRoutingShape& s, cudaStream_t stream) {
  if (s.slots() == 0) return cudaSuccess;
  if (vectorized(s, dy, sorted, d_sorted))
    combine_backward_kernel<T, 8><<<blocks_for(s.slots()), kThreads, 0, stream>>>(dy, sorted, inverse, weights,
                                                                                  d_sorted, d_weights, s);
  else
    combine_backward_kernel<T, 1><<<blocks_for(s.slots()), kThreads, 0, stream>>>(dy, sorted, inverse, weights,
                                                                                  d_sorted, d_weights, s);
  return cudaGetLastError();
}

#define HETERO_MOE_ROUTING_INSTANTIATE(T)                                                                        \
  template cudaError_t moe_dispatch_forward<T>(const T*, const int64_t*, T*, const MoeRoutingShape&, cudaStream_t); \
  template cudaError_t moe_dispatch_backward<T>(const T*, const int64_t*, T*, const MoeRoutingShape&, cudaStream_t); \
  template cudaError_t moe_combine_forward<T>(const T*, const int64_t*, const float*, float*, const MoeRoutingShape&, \
                                              cudaStream_t);                                                      \
  template cudaError_t moe_combine_backward<T>(const float*, const T*, const int64_t*, const float*, T*, float*,    \
                                               const MoeRoutingShape&, cudaStream_t);
HETERO_MOE_ROUTING_INSTANTIATE(float)
HETERO_MOE_ROUTING_INSTANTIATE(__nv_bfloat16)
#undef HETERO_MOE_ROUTING_INSTANTIATE

}  // namespace hetero
