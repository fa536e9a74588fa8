// Host entry point of the exact-GELU backward kernel (gelu_backward.cu):
// raw pointers and a stream; returns the launch's cudaError_t.
#pragma once

#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

namespace hetero {

// dh, u, du, h: `elements` bf16 values each, contiguous, 16-byte aligned,
// elements % 8 == 0. du = dh * gelu'(u) and h = gelu(u) in one pass.
cudaError_t gelu_backward_with_activation(const __nv_bfloat16* dh, const __nv_bfloat16* u, __nv_bfloat16* du,
                                          __nv_bfloat16* h, int64_t elements, cudaStream_t stream);

}  // namespace hetero
