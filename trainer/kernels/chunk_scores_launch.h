// at::Tensor wrappers of the chunk-score CUDA kernels (CUDA build only;
// chunk_scores_launch.cpp). Shapes and dtypes as model/chunk_scores.h, on
// CUDA, contiguous, a_cum / dt / CB fp32.
#pragma once

#include <tuple>

#include <ATen/ATen.h>

namespace hetero {

at::Tensor chunk_scores_cuda(const at::Tensor& cb, const at::Tensor& a_cum, const at::Tensor& dt,
                             at::ScalarType out_dtype);

// (d_cb, d_a_cum, d_dt), all fp32.
std::tuple<at::Tensor, at::Tensor, at::Tensor> chunk_scores_backward_cuda(const at::Tensor& d_scores,
                                                                          const at::Tensor& cb,
                                                                          const at::Tensor& a_cum,
                                                                          const at::Tensor& dt);

}  // namespace hetero
