// Column sums of a [rows, cols] matrix in one read of it, for the bias
// gradients (sum over tokens of the output gradient): where a [1, rows] x
// [rows, cols] GEMV reaches well under the memory bandwidth on such long,
// thin reductions. A block covers 256 columns (32 threads of 8 columns, one
// 16-byte bf16 load each) and a chunk of rows (8 threads down, kUnroll rows
// in flight each); it folds its 8 row lanes in shared memory and writes one
// partial row. A second kernel sums the partial rows in order. No atomics:
// deterministic.
#include "kernels/column_sums_cuda.h"

#include <algorithm>

#include "kernels/element.cuh"
#include "kernels/grid.h"

namespace hetero {
namespace {

constexpr int kVec = kColumnSumsMultiple;  // columns per thread
constexpr int kColThreads = 32;
constexpr int kRowThreads = 8;
constexpr int kBlockColumns = kColThreads * kVec;
constexpr int kUnroll = 4;
constexpr int kBlocksPerSm = 4;

template <typename T>
__global__ void __launch_bounds__(kColThreads * kRowThreads)
    column_partial_sums_kernel(const T* __restrict__ x, int64_t rows, int64_t cols, int64_t rows_per_chunk,
                               float* __restrict__ partials) {
  __shared__ float lanes[kRowThreads][kBlockColumns];
  const int64_t col = static_cast<int64_t>(blockIdx.x) * kBlockColumns + threadIdx.x * kVec;
  const int64_t begin = static_cast<int64_t>(blockIdx.y) * rows_per_chunk;
  const int64_t end = min(rows, begin + rows_per_chunk);
  float acc[kVec] = {};
  if (col < cols) {
    int64_t r = begin + threadIdx.y;
    for (; r + (kUnroll - 1) * kRowThreads < end; r += kUnroll * kRowThreads) {
      float v[kUnroll][kVec];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) load8(x + (r + u * kRowThreads) * cols + col, v[u]);
#pragma unroll
      for (int u = 0; u < kUnroll; ++u)
#pragma unroll
        for (int i = 0; i < kVec; ++i) acc[i] += v[u][i];
    }
    for (; r < end; r += kRowThreads) {
      float v[kVec];
      load8(x + r * cols + col, v);
#pragma unroll
      for (int i = 0; i < kVec; ++i) acc[i] += v[i];
    }
  }
#pragma unroll
  for (int i = 0; i < kVec; ++i) lanes[threadIdx.y][threadIdx.x * kVec + i] = acc[i];
  __syncthreads();
  // One column of the block's 256 per thread: its 8 row lanes in order.
  const int t = threadIdx.y * kColThreads + threadIdx.x;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kBlockColumns + t;
  if (c >= cols) return;
  float sum = 0.0f;
#pragma unroll
  for (int y = 0; y < kRowThreads; ++y) sum += lanes[y][t];
  partials[static_cast<int64_t>(blockIdx.y) * cols + c] = sum;
}

__global__ void sum_chunks_kernel(const float* __restrict__ partials, int64_t chunks, int64_t cols,
                                  float* __restrict__ out) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  float sum = 0.0f;
  for (int64_t k = 0; k < chunks; ++k) sum += partials[k * cols + c];
  out[c] = sum;
}

int64_t column_blocks(int64_t cols) { return (cols + kBlockColumns - 1) / kBlockColumns; }

}  // namespace

int64_t column_sums_chunks(int64_t rows, int64_t cols) {
  // About kBlocksPerSm blocks per multiprocessor in all, each chunk at
  // least one unrolled step of every row lane.
  const int64_t wanted = (device_multiprocessors() * static_cast<int64_t>(kBlocksPerSm) + column_blocks(cols) - 1) /
                         column_blocks(cols);
  const int64_t most = (rows + kUnroll * kRowThreads - 1) / (kUnroll * kRowThreads);
  return std::max<int64_t>(1, std::min(wanted, most));
}

template <typename T>
cudaError_t column_sums(const T* x, int64_t rows, int64_t cols, int64_t chunks, float* partials, float* out,
                        cudaStream_t stream) {
  if (chunks < 1) return cudaErrorInvalidValue;
  if (cols <= 0) return cudaSuccess;
  const int64_t rows_per_chunk = (rows + chunks - 1) / chunks;
  const dim3 grid(static_cast<unsigned>(column_blocks(cols)), static_cast<unsigned>(chunks));
  column_partial_sums_kernel<T><<<grid, dim3(kColThreads, kRowThreads), 0, stream>>>(x, rows, cols, rows_per_chunk,
                                                                                    partials);
  const int threads = 256;
  sum_chunks_kernel<<<static_cast<unsigned>((cols + threads - 1) / threads), threads, 0, stream>>>(partials, chunks,
                                                                                                  cols, out);
  return cudaGetLastError();
}

template cudaError_t column_sums<float>(const float*, int64_t, int64_t, int64_t, float*, float*, cudaStream_t);
template cudaError_t column_sums<__nv_bfloat16>(const __nv_bfloat16*, int64_t, int64_t, int64_t, float*, float*,
                                                cudaStream_t);

}  // namespace hetero
