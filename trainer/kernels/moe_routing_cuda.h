// Host entry points of the MoE dispatch and combine kernels
// (moe_routing.cu): raw pointers and a stream; each returns its launch's
// cudaError_t. T (float or __nv_bfloat16) is the dtype of x, the
// expert-sorted rows and their gradients; weights, y, dy and d_weights are
// fp32. Every array is contiguous: x, dx [tokens, hidden]; rows, sorted and
// their gradients [tokens * k, hidden]; y, dy [tokens, hidden]; order,
// inverse [tokens * k] int64; weights, d_weights [tokens, k]. Indexing as
// kernels/moe_routing.h. Where hidden % 8 == 0 and every row pointer is
// 16-byte aligned the kernels move 16-byte vectors, else single elements.
#pragma once

#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "kernels/moe_routing.h"

namespace hetero {

// rows[j] = x[order[j] / k].
template <typename T>
cudaError_t moe_dispatch_forward(const T* x, const int64_t* order, T* rows, const MoeRoutingShape& shape,
                                 cudaStream_t stream);

// dx[t] = sum over choices c, in order, of d_rows[inverse[t * k + c]], in fp32, rounded once to T.
template <typename T>
cudaError_t moe_dispatch_backward(const T* d_rows, const int64_t* inverse, T* dx, const MoeRoutingShape& shape,
                                  cudaStream_t stream);

// y[t] = sum over choices c, in order, of weights[t, c] * sorted[inverse[t * k + c]], in fp32.
template <typename T>
cudaError_t moe_combine_forward(const T* sorted, const int64_t* inverse, const float* weights, float* y,
                                const MoeRoutingShape& shape, cudaStream_t stream);

// d_sorted[inverse[s]] = weights[s] * dy[s / k] rounded to T, and
// d_weights[s] = dy[s / k] . sorted[inverse[s]] (one warp reduction), for every slot s.
template <typename T>
cudaError_t moe_combine_backward(const float* dy, const T* sorted, const int64_t* inverse, const float* weights,
                                 T* d_sorted, float* d_weights, const MoeRoutingShape& shape, cudaStream_t stream);

}  // namespace hetero
