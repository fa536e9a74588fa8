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

// Sequence split of replicated activations (Megatron's scatter to / gather
// from the sequence-parallel region), for layers that need each tp rank to
// hold different tokens (MoE). x [B, S, ...] replicated over tp -> this
// rank's [B, S/tp, ...] slice of every sequence; backward all-gathers the
// slices' gradients into the full, replicated gradient.
at::Tensor split_sequences_to_tp(const at::Tensor& x, const Group& tp);
// The inverse: y [B, S/tp, ...] per rank -> [B, S, ...] on every rank;
// backward keeps this rank's slice of the (replicated) gradient.
at::Tensor gather_sequences_from_tp(const at::Tensor& y, const Group& tp);

// Sequence parallelism (Megatron's sp): outside tp regions each rank holds
// its 1/tp slice of every sequence, so the region boundaries become
//   entering: all-gather x [B, S/tp, ...] -> [B, S, ...] on every rank;
//             backward reduce-scatters the gradient (summed, sliced);
//   leaving:  reduce-scatter partial sums y [B, S, ...] -> this rank's
//             [B, S/tp, ...] of their sum; backward all-gathers.
// The same traffic as enter/leave_tp_region's all-reduce, but activations
// between regions (norms, residual stream) take 1/tp of the memory.
at::Tensor gather_from_sequence_parallel(const at::Tensor& x, const Group& tp);
at::Tensor reduce_scatter_to_sequence_parallel(const at::Tensor& y, const Group& tp);

// A tp region's boundaries for either layout of the activations outside
// it: replicated (enter/leave_tp_region) or sequence parallel (the pair
// above).
at::Tensor enter_tp_region(const at::Tensor& x, const Group& tp, bool sequence_parallel);
at::Tensor leave_tp_region(const at::Tensor& y, const Group& tp, bool sequence_parallel);
// A weight replicated over tp that acts outside a region (a norm): under
// sequence parallelism each rank applies it to other tokens, so its
// gradient is summed over tp; otherwise it is used as is.
at::Tensor replicated_weight(const at::Tensor& w, const Group& tp, bool sequence_parallel);

}  // namespace hetero
