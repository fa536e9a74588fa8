// at::Tensor wrappers of the MoE dispatch and combine kernels (CUDA build
// only; moe_routing_launch.cpp). Shapes and dtypes as model/moe_routing.h,
// already checked by the caller: every tensor a contiguous CUDA tensor on
// one device, order and inverse int64, weights fp32, x and sorted fp32 or
// bf16.
#pragma once

#include <utility>

#include <ATen/ATen.h>

#include "kernels/moe_routing.h"

namespace hetero {

// rows [n * k, hidden] in x's dtype.
at::Tensor moe_dispatch_cuda(const at::Tensor& x, const at::Tensor& order, const MoeRoutingShape& shape);
// dx [n, hidden] in d_rows' dtype.
at::Tensor moe_dispatch_backward_cuda(const at::Tensor& d_rows, const at::Tensor& inverse, const MoeRoutingShape& shape);

// y [n, hidden] fp32.
at::Tensor moe_combine_cuda(const at::Tensor& sorted, const at::Tensor& inverse, const at::Tensor& weights,
                            const MoeRoutingShape& shape);
// (d_sorted like sorted, d_weights fp32 like weights); dy fp32 [n, hidden].
std::pair<at::Tensor, at::Tensor> moe_combine_backward_cuda(const at::Tensor& dy, const at::Tensor& sorted,
                                                            const at::Tensor& inverse, const at::Tensor& weights,
                                                            const MoeRoutingShape& shape);

}  // namespace hetero
