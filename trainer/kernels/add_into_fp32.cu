// fp32 += bf16 over a whole buffer (the experts' stacked weight gradients
// added into their fp32 .grad once per microbatch): a thread per 8 elements,
// one 16-byte load of the bf16 values and two of the fp32 ones, grid-stride.
// ATen's mixed-dtype add_ runs it through its unrolled (non-vectorized)
// elementwise path at about 70% of the memory bandwidth.
#include "kernels/add_into_fp32_cuda.h"

#include "kernels/element.cuh"
#include "kernels/grid.h"

namespace hetero {
namespace {

constexpr int kVec = 8;
constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    add_bf16_into_fp32_kernel(float* __restrict__ into, const __nv_bfloat16* __restrict__ add, int64_t vectors) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < vectors;
       i += static_cast<int64_t>(gridDim.x) * kThreads) {
    float a[kVec], s[kVec];
    load8(add + i * kVec, a);
    load8(into + i * kVec, s);
#pragma unroll
    for (int k = 0; k < kVec; ++k) s[k] += a[k];
    store8(into + i * kVec, s);
  }
}

}  // namespace

cudaError_t add_bf16_into_fp32(float* into, const __nv_bfloat16* add, int64_t elements, cudaStream_t stream) {
  if (elements % kVec != 0) return cudaErrorInvalidValue;
  const int64_t vectors = elements / kVec;
  if (vectors == 0) return cudaSuccess;
  const int64_t blocks = grid_stride_blocks(vectors, kThreads, 8);
  add_bf16_into_fp32_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(into, add, vectors);
  return cudaGetLastError();
}

}  // namespace hetero
