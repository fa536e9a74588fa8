// at::Tensor wrappers of the fused residual add + LayerNorm CUDA kernels
// (CUDA build only; add_layer_norm_launch.cpp). Shapes and dtypes as
// model/add_layer_norm.h, x and a already viewed as [tokens, n].
#pragma once

#include <tuple>

#include <ATen/ATen.h>

namespace hetero {

// (h, y [tokens, n] in x's dtype, mean, rstd [tokens] fp32).
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> add_layer_norm_cuda(const at::Tensor& x,
                                                                               const at::Tensor& a,
                                                                               const at::Tensor& gamma,
                                                                               const at::Tensor& beta, double eps);

// (dh like h, d_gamma, d_beta fp32 like gamma); dh_in may be undefined.
std::tuple<at::Tensor, at::Tensor, at::Tensor> add_layer_norm_backward_cuda(const at::Tensor& dy,
                                                                            const at::Tensor& dh_in,
                                                                            const at::Tensor& h,
                                                                            const at::Tensor& gamma,
                                                                            const at::Tensor& mean,
                                                                            const at::Tensor& rstd);

}  // namespace hetero
