// at::Tensor wrapper of the gradient-statistics kernel (CUDA build only;
// grad_stats_launch.cpp), for optim/grads.h's local_grad_stats.
#pragma once

#include <vector>

#include <ATen/ATen.h>

namespace hetero {

// {sum of squares, count of exact zeros} over every element of `grads`
// (fp32 CUDA tensors on one device, contiguous), as a [2] fp64 tensor on
// their device, by one kernel and a sum over its block partials; no host
// sync (the table of addresses goes to the device by a pinned copy).
at::Tensor grad_stats_cuda(const std::vector<at::Tensor>& grads);

}  // namespace hetero
