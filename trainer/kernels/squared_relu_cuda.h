// Host entry points of the squared-ReLU kernels (squared_relu.cu): raw
// pointers and a stream; each returns its launch's cudaError_t.
#pragma once

#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

namespace hetero {

// u, h, dh, du: `elements` bf16 values each, contiguous, 16-byte aligned,
// elements % 8 == 0. h = max(u, 0)^2; du = dh * 2 max(u, 0).
cudaError_t squared_relu_forward(const __nv_bfloat16* u, __nv_bfloat16* h, int64_t elements, cudaStream_t stream);
cudaError_t squared_relu_backward(const __nv_bfloat16* dh, const __nv_bfloat16* u, __nv_bfloat16* du,
                                  int64_t elements, cudaStream_t stream);

}  // namespace hetero
