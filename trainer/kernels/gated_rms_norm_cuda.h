// Host entry points of the gated RMSNorm kernels (gated_rms_norm.cu): raw
// pointers and a stream; each returns the launch's cudaError_t. Rows are
// (token, group), n channels each: y, out, d_out, dy [tokens, groups, n]
// contiguous; z [tokens, groups, n] with strides (z_token_stride,
// z_group_stride, 1), dz with (dz_token_stride, dz_group_stride, 1); w, dw
// [groups * n]; rstd [tokens * groups].
// z = nullptr (and dz = nullptr) is the plain RMSNorm: no gate.
#pragma once

#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "kernels/gated_rms_norm.h"

namespace hetero {

struct GatedRmsNormShape {
  int64_t tokens;
  int groups, n;
  int64_t z_token_stride, z_group_stride;
  int64_t dz_token_stride, dz_group_stride;  // the backward's
  float eps;
};

// Z: the gate's dtype; Out: the output's (and d_out's) dtype.
template <typename Z, typename Out>
cudaError_t gated_rms_norm_forward(const float* y, const Z* z, const float* w, Out* out, float* rstd,
                                   const GatedRmsNormShape& shape, cudaStream_t stream);

// dw_partial: scratch of gated_rms_norm_dw_partial_rows(shape) * groups * n floats.
template <typename Z, typename Out>
cudaError_t gated_rms_norm_backward(const Out* d_out, const float* y, const Z* z, const float* w, const float* rstd,
                                    float* dy, Z* dz, float* dw, float* dw_partial, const GatedRmsNormShape& shape,
                                    cudaStream_t stream);

int64_t gated_rms_norm_dw_partial_rows(const GatedRmsNormShape& shape);

}  // namespace hetero
