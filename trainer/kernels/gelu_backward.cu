// The exact-GELU backward with the activation recomputed beside it (math:
// gelu_math.h): a thread per 8 bf16 values, 16-byte loads and stores,
// grid-stride over the tensor.
#include "kernels/gelu_backward_cuda.h"

#include "kernels/gelu_math.h"
#include "kernels/grid.h"

namespace hetero {
namespace {

constexpr int kVec = 8;  // bf16 per 16-byte access
constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    gelu_backward_kernel(const uint4* __restrict__ dh, const uint4* __restrict__ u, uint4* __restrict__ du,
                         uint4* __restrict__ h, int64_t vectors) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < vectors;
       i += static_cast<int64_t>(gridDim.x) * kThreads) {
    const uint4 dh_bits = dh[i], u_bits = u[i];
    const __nv_bfloat16* dh8 = reinterpret_cast<const __nv_bfloat16*>(&dh_bits);
    const __nv_bfloat16* u8 = reinterpret_cast<const __nv_bfloat16*>(&u_bits);
    uint4 du_bits, h_bits;
    __nv_bfloat16* du8 = reinterpret_cast<__nv_bfloat16*>(&du_bits);
    __nv_bfloat16* h8 = reinterpret_cast<__nv_bfloat16*>(&h_bits);
#pragma unroll
    for (int k = 0; k < kVec; ++k) {
      const float uf = __bfloat162float(u8[k]);
      du8[k] = __float2bfloat16(__bfloat162float(dh8[k]) * gelu_erf_grad(uf));
      h8[k] = __float2bfloat16(gelu_erf(uf));
    }
    du[i] = du_bits;
    h[i] = h_bits;
  }
}

}  // namespace

cudaError_t gelu_backward_with_activation(const __nv_bfloat16* dh, const __nv_bfloat16* u, __nv_bfloat16* du,
                                          __nv_bfloat16* h, int64_t elements, cudaStream_t stream) {
  if (elements % kVec != 0) return cudaErrorInvalidValue;
  const int64_t vectors = elements / kVec;
  if (vectors == 0) return cudaSuccess;
  const int64_t blocks = grid_stride_blocks(vectors, kThreads, 16);
  gelu_backward_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
      reinterpret_cast<const uint4*>(dh), reinterpret_cast<const uint4*>(u), reinterpret_cast<uint4*>(du),
      reinterpret_cast<uint4*>(h), vectors);
  return cudaGetLastError();
}

}  // namespace hetero
