// at::Tensor wrappers of the gated RMSNorm CUDA kernels (CUDA build only;
// gated_rms_norm_launch.cpp). Shapes and dtypes as model/gated_rms_norm.h,
// z already viewed as [tokens, groups, n] with its last dim contiguous, or
// undefined: no gate, the plain RMSNorm over y's rows.
#pragma once

#include <tuple>

#include <ATen/ATen.h>

namespace hetero {

// (out [tokens, groups * n] in out_dtype, rstd [tokens, groups] fp32).
std::tuple<at::Tensor, at::Tensor> gated_rms_norm_cuda(const at::Tensor& y, const at::Tensor& z, const at::Tensor& w,
                                                       double eps, at::ScalarType out_dtype);

// (dy fp32 like y, dz like z (undefined without z), dw fp32 like w). dz is
// written into dz_into where given (z's sizes and dtype, any strides with the
// last dim contiguous: a slice of a split's gradient buffer), else into a
// contiguous tensor of its own.
std::tuple<at::Tensor, at::Tensor, at::Tensor> gated_rms_norm_backward_cuda(const at::Tensor& d_out,
                                                                            const at::Tensor& y, const at::Tensor& z,
                                                                            const at::Tensor& w,
                                                                            const at::Tensor& rstd,
                                                                            const at::Tensor& dz_into = {});

}  // namespace hetero
