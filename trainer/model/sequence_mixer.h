// What Nemotron-H's Mamba-2 and attention layers have in common: they mix
// tokens along each packed sequence, with Megatron-style tensor
// parallelism (input column-parallel, output row-parallel). Under sequence
// parallelism the caller owns the tp region's boundaries, so each mixer
// implements forward_partial; forward wraps it in the plain region.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "dist/comm.h"
#include "model/params.h"
#include "model/tp_ops.h"

namespace hetero {

class SequenceMixer {
 public:
  virtual ~SequenceMixer() = default;

  // x [T, hidden] (packed samples), cu_seqlens as in packing.h. Returns
  // [T, hidden] fp32.
  at::Tensor forward(const at::Tensor& x, const std::vector<int64_t>& cu_seqlens) const {
    return leave_tp_region(forward_partial(enter_tp_region(x.to(compute_), tp_), cu_seqlens), tp_).to(at::kFloat);
  }
  // Inside a tp region whose boundaries the caller owns (sequence
  // parallelism): x already entered it (compute dtype); returns this rank's
  // partial sum of the output, in compute dtype.
  virtual at::Tensor forward_partial(const at::Tensor& x, const std::vector<int64_t>& cu_seqlens) const = 0;

 protected:
  // `compute`: dtype of matmuls and TP traffic.
  SequenceMixer(const Group& tp, at::ScalarType compute) : tp_(tp), compute_(compute), weights_(compute) {}

  const Group& tp_;
  at::ScalarType compute_;
  ComputeWeights weights_;  // bf16 copies of the weights, once per optimizer step
};

}  // namespace hetero
