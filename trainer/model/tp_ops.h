// Autograd-aware tensor-parallel collectives (Megatron's f and g):
// entering a TP region copies activations and sums gradients on the way
// back; leaving it sums activations and copies gradients.
#pragma once

#include <ATen/ATen.h>

#include "dist/comm.h"

namespace hetero {

// Identity forward, all-reduce of the gradient over `tp` backward.
at::Tensor enter_tp_region(const at::Tensor& x, const Group& tp);
// All-reduce over `tp` forward, identity backward.
at::Tensor leave_tp_region(const at::Tensor& x, const Group& tp);

}  // namespace hetero
