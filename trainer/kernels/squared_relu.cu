// Squared ReLU, h = max(u, 0)^2, and its backward, du = dh * 2 max(u, 0),
// one pass each (ATen takes two for the forward and three for the
// backward): a thread per 8 bf16 values, 16-byte loads and stores,
// grid-stride over the tensor. The math is ATen's bf16 ops' math: fp32
// products of bf16 values, rounded to bf16 once.
#include "kernels/squared_relu_cuda.h"

#include "kernels/grid.h"

namespace hetero {
namespace {

constexpr int kVec = 8;  // bf16 per 16-byte access
constexpr int kThreads = 256;

__device__ __forceinline__ float relu(float u) { return u > 0.0f ? u : 0.0f; }

__global__ void __launch_bounds__(kThreads)
    squared_relu_forward_kernel(const uint4* __restrict__ u, uint4* __restrict__ h, int64_t vectors) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < vectors;
       i += static_cast<int64_t>(gridDim.x) * kThreads) {
    const uint4 u_bits = u[i];
    const __nv_bfloat16* u8 = reinterpret_cast<const __nv_bfloat16*>(&u_bits);
    uint4 h_bits;
    __nv_bfloat16* h8 = reinterpret_cast<__nv_bfloat16*>(&h_bits);
#pragma unroll
    for (int k = 0; k < kVec; ++k) {
      const float r = relu(__bfloat162float(u8[k]));
      h8[k] = __float2bfloat16(r * r);
    }
    h[i] = h_bits;
  }
}

__global__ void __launch_bounds__(kThreads)
    squared_relu_backward_kernel(const uint4* __restrict__ dh, const uint4* __restrict__ u, uint4* __restrict__ du,
                                 int64_t vectors) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < vectors;
       i += static_cast<int64_t>(gridDim.x) * kThreads) {
    const uint4 dh_bits = dh[i], u_bits = u[i];
    const __nv_bfloat16* dh8 = reinterpret_cast<const __nv_bfloat16*>(&dh_bits);
    const __nv_bfloat16* u8 = reinterpret_cast<const __nv_bfloat16*>(&u_bits);
    uint4 du_bits;
    __nv_bfloat16* du8 = reinterpret_cast<__nv_bfloat16*>(&du_bits);
#pragma unroll
    for (int k = 0; k < kVec; ++k) {
      const float uf = __bfloat162float(u8[k]);
      // 2 max(u, 0) is exact in bf16, as ATen's pow backward forms it.
      du8[k] = uf > 0.0f ? __float2bfloat16(__bfloat162float(dh8[k]) * (2.0f * uf)) : __float2bfloat16(0.0f);
    }
    du[i] = du_bits;
  }
}

int64_t blocks_for(int64_t vectors) { return grid_stride_blocks(vectors, kThreads, 16); }

}  // namespace

cudaError_t squared_relu_forward(const __nv_bfloat16* u, __nv_bfloat16* h, int64_t elements, cudaStream_t stream) {
  if (elements % kVec != 0) return cudaErrorInvalidValue;
  const int64_t vectors = elements / kVec;
  if (vectors == 0) return cudaSuccess;
  squared_relu_forward_kernel<<<static_cast<unsigned>(blocks_for(vectors)), kThreads, 0, stream>>>(
      reinterpret_cast<const uint4*>(u), reinterpret_cast<uint4*>(h), vectors);
  return cudaGetLastError();
}

cudaError_t squared_relu_backward(const __nv_bfloat16* dh, const __nv_bfloat16* u, __nv_bfloat16* du,
                                  int64_t elements, cudaStream_t stream) {
  if (elements % kVec != 0) return cudaErrorInvalidValue;
  const int64_t vectors = elements / kVec;
  if (vectors == 0) return cudaSuccess;
  squared_relu_backward_kernel<<<static_cast<unsigned>(blocks_for(vectors)), kThreads, 0, stream>>>(
      reinterpret_cast<const uint4*>(dh), reinterpret_cast<const uint4*>(u), reinterpret_cast<uint4*>(du), vectors);
  return cudaGetLastError();
}

}  // namespace hetero
