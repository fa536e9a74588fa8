// Host entry points of the SSD output kernels (ssd_output.cu): raw pointers
// and a stream; each returns the launch's cudaError_t. T is the matmul
// operands' dtype (float or __nv_bfloat16) of y_intra, y_inter and x; a_cum,
// D and the output fp32. Layouts as kernels/ssd_output.h; D may be null
// (no skip term).
#pragma once

#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "kernels/ssd_output.h"

namespace hetero {

template <typename T>
cudaError_t ssd_output_forward(const T* y_intra, const T* y_inter, const float* a_cum, const T* x, const float* D,
                               float* out, const SsdOutputShape& shape, cudaStream_t stream);

// dy [rows, head_dim] fp32 contiguous. Writes d_y_intra, d_y_inter (their
// rows for t < length; the caller zeroes the padded rest), dx ([b,l,h,p]
// contiguous), d_a_cum (its elements for t < length) and, where D is given,
// dD_rows[row] = sum over the row's channels of dy * x (summed over rows by
// the caller).
template <typename T>
cudaError_t ssd_output_backward(const float* dy, const T* y_inter, const float* a_cum, const T* x, const float* D,
                                T* d_y_intra, T* d_y_inter, float* d_a_cum, T* dx, float* dD_rows,
                                const SsdOutputShape& shape, cudaStream_t stream);

}  // namespace hetero
