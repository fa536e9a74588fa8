// Sum of squares and zero count of many fp32 gradients in one launch and
// one read of each element (where an fp32 dot product, then an eq(0) that
// writes a bool tensor and a sum over it, made three launches and passes
// per parameter). The gradients are read as one flat range, split evenly
// over the blocks; a block finds its first gradient by binary search of the
// ends and walks on. Each thread keeps an fp64 sum and a count, kUnroll
// loads in flight; the warp and then the block combine them in a fixed
// order (no atomics: deterministic).
#include "kernels/grad_stats_cuda.h"
#include "kernels/grid.h"

namespace hetero {
namespace {

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;
constexpr int kUnroll = 4;
constexpr int kBlocksPerSm = 8;

__global__ void __launch_bounds__(kThreads)
    grad_stats_kernel(const int64_t* __restrict__ table, int count, int64_t total, int64_t per_block,
                      double* __restrict__ partials) {
  __shared__ double warp_sq[kWarps];
  __shared__ unsigned long long warp_zeros[kWarps];
  const int64_t* ends = table + count;
  const int64_t begin = min(total, static_cast<int64_t>(blockIdx.x) * per_block);
  const int64_t end = min(total, begin + per_block);
  double sq = 0.0;
  unsigned long long zeros = 0;
  if (begin < end) {
    // The first array that ends after `begin`.
    int lo = 0, hi = count - 1;
    while (lo < hi) {
      const int mid = (lo + hi) / 2;
      if (ends[mid] > begin)
        hi = mid;
      else
        lo = mid + 1;
    }
    for (int t = lo; t < count; ++t) {
      const int64_t start = t == 0 ? 0 : ends[t - 1];
      if (start >= end) break;
      const float* data = reinterpret_cast<const float*>(static_cast<uintptr_t>(table[t]));
      const int64_t a = max(begin, start) - start, b = min(end, ends[t]) - start;
      for (int64_t i = a + threadIdx.x; i < b; i += static_cast<int64_t>(kThreads) * kUnroll) {
        float x[kUnroll];
        bool valid[kUnroll];
#pragma unroll
        for (int k = 0; k < kUnroll; ++k) {
          const int64_t j = i + static_cast<int64_t>(k) * kThreads;
          valid[k] = j < b;
          x[k] = valid[k] ? __ldg(data + j) : 0.0f;
        }
#pragma unroll
        for (int k = 0; k < kUnroll; ++k) {
          const double d = static_cast<double>(x[k]);
          sq = fma(d, d, sq);
          zeros += valid[k] && x[k] == 0.0f ? 1ull : 0ull;
        }
      }
    }
  }
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) {
    sq += __shfl_down_sync(0xffffffffu, sq, offset);
    zeros += __shfl_down_sync(0xffffffffu, zeros, offset);
  }
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  if (lane == 0) {
    warp_sq[warp] = sq;
    warp_zeros[warp] = zeros;
  }
  __syncthreads();
  if (warp == 0) {
    sq = lane < kWarps ? warp_sq[lane] : 0.0;
    zeros = lane < kWarps ? warp_zeros[lane] : 0ull;
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) {
      sq += __shfl_down_sync(0xffffffffu, sq, offset);
      zeros += __shfl_down_sync(0xffffffffu, zeros, offset);
    }
    if (lane == 0) {
      partials[2 * static_cast<int64_t>(blockIdx.x)] = sq;
      partials[2 * static_cast<int64_t>(blockIdx.x) + 1] = static_cast<double>(zeros);
    }
  }
}

}  // namespace

int grad_stats_blocks(int64_t total) {
  const int64_t per_block = static_cast<int64_t>(kThreads) * kUnroll;
  return static_cast<int>(grid_stride_blocks(total, per_block, kBlocksPerSm));
}

cudaError_t grad_stats_fp32(const int64_t* table, int count, int64_t total, double* partials, cudaStream_t stream) {
  const int blocks = grad_stats_blocks(total);
  const int64_t per_block = (total + blocks - 1) / blocks;
  grad_stats_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(table, count, total, per_block, partials);
  return cudaGetLastError();
}

}  // namespace hetero
