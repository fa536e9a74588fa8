// Host entry points of the SSD chunk-state input kernels
// (ssd_state_input.cu): raw pointers and a stream; each returns the launch's
// cudaError_t. T (float or __nv_bfloat16) is the dtype of x, weighted and
// their gradients; to_end and d_to_end fp32. Layouts as
// kernels/ssd_state_input.h.
#pragma once

#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "kernels/ssd_state_input.h"

namespace hetero {

template <typename T>
cudaError_t ssd_state_input_forward(const T* x, const float* to_end, T* weighted, const SsdStateInputShape& shape,
                                    cudaStream_t stream);

// d_weighted [rows, head_dim] contiguous. dx [b, l, h, p] contiguous gets
// every element (its steps t < length); d_to_end every element (0 on padding).
template <typename T>
cudaError_t ssd_state_input_backward(const T* d_weighted, const T* x, const float* to_end, T* dx, float* d_to_end,
                                     const SsdStateInputShape& shape, cudaStream_t stream);

}  // namespace hetero
