// at::Tensor wrappers of the causal conv1d + SiLU CUDA kernels (CUDA build
// only; causal_conv1d_launch.cpp). Shapes and dtypes as
// model/causal_conv1d.h, x already viewed as [T, groups, width] with its
// last dim contiguous; cu_seqlens an int64 tensor on x's device.
#pragma once

#include <tuple>

#include <ATen/ATen.h>

namespace hetero {

// out [T, groups * width] in out_dtype.
at::Tensor causal_conv1d_silu_cuda(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                   const at::Tensor& cu_seqlens, at::ScalarType out_dtype);

// (dx [T, groups, width] in x's dtype, dw fp32 like weight, db fp32 like
// bias). dx is written into dx_into where given (x's sizes and dtype, any
// strides with the last dim contiguous: a slice of a split's gradient
// buffer), else into a contiguous tensor of its own.
std::tuple<at::Tensor, at::Tensor, at::Tensor> causal_conv1d_silu_backward_cuda(const at::Tensor& d_out,
                                                                                const at::Tensor& x,
                                                                                const at::Tensor& weight,
                                                                                const at::Tensor& bias,
                                                                                const at::Tensor& cu_seqlens,
                                                                                const at::Tensor& dx_into = {});

}  // namespace hetero
