// Gradient bookkeeping across ranks: zeroing, the per-module data-parallel
// sum, and the global norm across both modules (design §7 step 4-5).
#pragma once

#include <cstdint>

#include <ATen/ATen.h>
#include <vector>

#include "dist/comm.h"
#include "model/params.h"

namespace hetero {

// Sets every gradient to zeros, so a module that saw no data still reduces.
void zero_grads(std::vector<Param>& params);

// Sums gradients over the module's data-parallel group in one flat buffer
// (MoE experts, marked by Param::expert_dp, over their own group).
// The loss is already normalised by the global token count, so sum (not
// mean) gives the single-process gradient, even for encoder replicas that
// saw no images.
void reduce_grads_over_dp(std::vector<Param>& params, const Group& dp);

// This rank's share of the squared gradient norm and zero count: each
// distinct gradient element is counted on exactly one rank of the job (tp
// shards everywhere, tp-replicated tensors on tp rank 0, only dp rank 0;
// MoE experts on expert-dp rank 0).
// Returned as a [2] fp64 tensor {sum_sq, zeros} on the gradients' device
// (zeros on `device` when no gradient counts here), with no host sync: the
// per-parameter terms are stacked and summed on the device, so the caller
// can reduce it with other scalars and read it once. CUDA builds count the
// contiguous fp32 CUDA gradients by one kernel that reads each element once
// (kernels/grad_stats_launch.h); CPU gradients in fp64, the reference.
at::Tensor local_grad_stats(const std::vector<Param>& params, const Group& tp, const Group& dp, at::Device device);

}  // namespace hetero
