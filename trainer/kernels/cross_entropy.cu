// CUDA kernels of the chunked output layer's cross-entropy (math:
// cross_entropy.h), over a chunk's bf16/fp16 logits [rows, cols] without an
// fp32 copy.
//
// A block per row. A row is read as its unaligned head (up to 7 elements
// before the 16-byte grid), a body of 8-element packs moved as 16-byte
// vectors, kUnroll packs in flight per thread, and a tail of up to 7.
// Row stats: each thread keeps an online softmax (max, sum of exp) over its
// elements; the warp and then the block combine them in a fixed order (no
// atomics: deterministic). Gradient: one pass that reads each logit and
// writes its gradient, possibly over the logit itself.
#include "kernels/cross_entropy_cuda.h"

#include <climits>
#include <cstdint>

#include "kernels/cross_entropy.h"
#include "kernels/element.cuh"

namespace hetero {
namespace {

constexpr int kPack = 8;  // elements per 16-byte vector
constexpr int kThreads = 512;
constexpr int kUnroll = 4;  // packs loaded before any is used
constexpr int kWarps = kThreads / 32;

// Where a row's 16-byte-aligned body starts and ends.
struct RowSplit {
  int head;        // elements before the body
  int packs;       // the body's 8-element packs
  int tail_begin;  // the first element after the body
};

template <typename T>
__device__ __forceinline__ RowSplit split_row(const T* row, int cols) {
  static_assert(sizeof(T) == 2, "8 elements to a 16-byte pack");
  const int misaligned = static_cast<int>(reinterpret_cast<std::uintptr_t>(row) % 16) / 2;
  RowSplit s;
  s.head = min(misaligned == 0 ? 0 : kPack - misaligned, cols);
  s.packs = (cols - s.head) / kPack;
  s.tail_begin = s.head + s.packs * kPack;
  return s;
}

template <typename T>
__device__ __forceinline__ void unpack(const uint4& raw, float* v) {
  const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
  for (int i = 0; i < kPack; ++i) v[i] = to_float(e[i]);
}

template <typename T>
__device__ __forceinline__ uint4 pack(const float* v) {
  uint4 raw;
  T* e = reinterpret_cast<T*>(&raw);
#pragma unroll
  for (int i = 0; i < kPack; ++i) e[i] = from_float<T>(v[i]);
  return raw;
}

__device__ __forceinline__ SoftmaxStats shfl_xor(const SoftmaxStats& s, int offset) {
  SoftmaxStats o;
  o.max = __shfl_xor_sync(0xffffffffu, s.max, offset);
  o.sum = __shfl_xor_sync(0xffffffffu, s.sum, offset);
  return o;
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    row_stats_kernel(const T* __restrict__ logits, const int64_t* __restrict__ labels, CrossEntropyRows shape,
                     float* __restrict__ max, float* __restrict__ sum, float* __restrict__ target) {
  __shared__ SoftmaxStats warp_stats[kWarps];
  const int64_t r = blockIdx.x;
  const T* row = logits + r * shape.ld;
  const RowSplit s = split_row(row, shape.cols);
  SoftmaxStats st{-INFINITY, 0.0f};
  // The row's ends, an element each for the first threads.
  if (static_cast<int>(threadIdx.x) < s.head) {
    const float x = to_float(row[threadIdx.x]);
    st = softmax_stats_add(st, &x, 1);
  }
  if (s.tail_begin + static_cast<int>(threadIdx.x) < shape.cols) {
    const float x = to_float(row[s.tail_begin + threadIdx.x]);
    st = softmax_stats_add(st, &x, 1);
  }
  const uint4* body = reinterpret_cast<const uint4*>(row + s.head);
  for (int p0 = threadIdx.x; p0 < s.packs; p0 += kUnroll * kThreads) {
    uint4 raw[kUnroll];
#pragma unroll
    for (int j = 0; j < kUnroll; ++j) {
      if (p0 + j * kThreads < s.packs) raw[j] = body[p0 + j * kThreads];
    }
    // Packs past the row's end count as -inf: exp(-inf - max) adds 0 (pack 0 is always real, so max is finite).
    float v[kUnroll * kPack];
#pragma unroll
    for (int j = 0; j < kUnroll; ++j) {
      if (p0 + j * kThreads < s.packs) {
        unpack<T>(raw[j], v + j * kPack);
      } else {
#pragma unroll
        for (int i = 0; i < kPack; ++i) v[j * kPack + i] = -INFINITY;
      }
    }
    st = softmax_stats_add(st, v, kUnroll * kPack);
  }
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) st = softmax_stats_combine(st, shfl_xor(st, offset));
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warp_stats[warp] = st;
  __syncthreads();
  if (threadIdx.x != 0) return;
  SoftmaxStats total = warp_stats[0];
  for (int w = 1; w < kWarps; ++w) total = softmax_stats_combine(total, warp_stats[w]);
  max[r] = total.max;
  sum[r] = total.sum;
  const int64_t local = labels[r] - shape.label_start;
  target[r] = local >= 0 && local < shape.cols ? to_float(row[local]) : 0.0f;
}

// No __restrict__ on logits and d_logits: they may be one buffer (each
// thread reads an element before it writes the same element, and no other).
template <typename T>
__global__ void __launch_bounds__(kThreads)
    logit_grad_kernel(const T* logits, T* d_logits, int64_t d_ld, const int64_t* __restrict__ labels,
                      const float* __restrict__ max, const float* __restrict__ sum, const float* __restrict__ mask,
                      CrossEntropyRows shape) {
  const int64_t r = blockIdx.x;
  const T* row = logits + r * shape.ld;
  T* out = d_logits + r * d_ld;
  const float row_max = max[r], m = mask[r], scale = m / sum[r];
  const int64_t local = labels[r] - shape.label_start;
  const int label_col = local >= 0 && local < shape.cols ? static_cast<int>(local) : -1;
  const auto grad = [&](float x, int col) {
    return cross_entropy_logit_grad(x, row_max, scale, col == label_col ? m : 0.0f);
  };
  const RowSplit s = split_row(row, shape.cols);
  if (static_cast<int>(threadIdx.x) < s.head) {
    out[threadIdx.x] = from_float<T>(grad(to_float(row[threadIdx.x]), threadIdx.x));
  }
  if (s.tail_begin + static_cast<int>(threadIdx.x) < shape.cols) {
    const int col = s.tail_begin + threadIdx.x;
    out[col] = from_float<T>(grad(to_float(row[col]), col));
  }
  const uint4* body = reinterpret_cast<const uint4*>(row + s.head);
  uint4* out_body = reinterpret_cast<uint4*>(out + s.head);  // aligned like the row (the caller's promise)
  for (int p0 = threadIdx.x; p0 < s.packs; p0 += kUnroll * kThreads) {
    uint4 raw[kUnroll];
#pragma unroll
    for (int j = 0; j < kUnroll; ++j) {
      if (p0 + j * kThreads < s.packs) raw[j] = body[p0 + j * kThreads];
    }
#pragma unroll
    for (int j = 0; j < kUnroll; ++j) {
      const int p = p0 + j * kThreads;
      if (p < s.packs) {
        float v[kPack];
        unpack<T>(raw[j], v);
        const int col0 = s.head + p * kPack;
#pragma unroll
        for (int i = 0; i < kPack; ++i) v[i] = grad(v[i], col0 + i);
        out_body[p] = pack<T>(v);
      }
    }
  }
}

bool launchable(const CrossEntropyRows& shape) { return shape.rows <= INT_MAX && shape.cols > 0 && shape.ld >= shape.cols; }

}  // namespace

template <typename T>
cudaError_t cross_entropy_row_stats(const T* logits, const int64_t* labels, const CrossEntropyRows& shape, float* max,
                                    float* sum, float* target, cudaStream_t stream) {
  if (!launchable(shape)) return cudaErrorInvalidValue;
  if (shape.rows == 0) return cudaSuccess;
  row_stats_kernel<T><<<static_cast<unsigned>(shape.rows), kThreads, 0, stream>>>(logits, labels, shape, max, sum,
                                                                                  target);
  return cudaGetLastError();
}

template <typename T>
cudaError_t cross_entropy_logit_grad(const T* logits, T* d_logits, int64_t d_ld, const int64_t* labels,
                                     const float* max, const float* sum, const float* mask,
                                     const CrossEntropyRows& shape, cudaStream_t stream) {
  if (!launchable(shape) || d_ld < shape.cols) return cudaErrorInvalidValue;
  if (!cross_entropy_rows_alike(logits, shape.ld, d_logits, d_ld, sizeof(T))) return cudaErrorMisalignedAddress;
  if (shape.rows == 0) return cudaSuccess;
  logit_grad_kernel<T><<<static_cast<unsigned>(shape.rows), kThreads, 0, stream>>>(logits, d_logits, d_ld, labels,
                                                                                   max, sum, mask, shape);
  return cudaGetLastError();
}

#define HETERO_CROSS_ENTROPY_INSTANTIATE(T)                                                                     \
  template cudaError_t cross_entropy_row_stats<T>(const T*, const int64_t*, const CrossEntropyRows&, float*,   \
                                                  float*, float*, cudaStream_t);                               \
  template cudaError_t cross_entropy_logit_grad<T>(const T*, T*, int64_t, const int64_t*, const float*,        \
                                                   const float*, const float*, const CrossEntropyRows&,        \
                                                   cudaStream_t);
HETERO_CROSS_ENTROPY_INSTANTIATE(__nv_bfloat16)
HETERO_CROSS_ENTROPY_INSTANTIATE(__half)
#undef HETERO_CROSS_ENTROPY_INSTANTIATE

}  // namespace hetero
