// Nemotron-H's MLP layer ('-', HF NemotronHMLP): down_proj(relu(up_proj x)^2),
// no gate, no biases. Tensor parallelism as Megatron: up_proj column-parallel
// (each tp rank a slice of the FFN width), down_proj row-parallel, the
// partial outputs summed on leaving the TP region.
#pragma once

#include <cstdint>
#include <string>

#include <ATen/ATen.h>

#include "dist/comm.h"
#include "model/params.h"

namespace hetero {

class SquaredReluMlp {
 public:
  // Parameters (HF names): <prefix>.up_proj.weight [ffn, hidden],
  // <prefix>.down_proj.weight [hidden, ffn]. tp must divide ffn.
  SquaredReluMlp(ParamSet& params, const std::string& prefix, int64_t hidden, int64_t ffn, const Group& tp,
                 at::ScalarType compute);

  // x [..., hidden] (replicated over tp) -> [..., hidden] fp32.
  at::Tensor forward(const at::Tensor& x) const;
  // The layer inside a tp region whose boundaries the caller owns (sequence
  // parallelism): x already entered it (compute dtype, whole sequences);
  // returns this rank's partial sum of the output, in compute dtype.
  at::Tensor forward_partial(const at::Tensor& x) const;

 private:
  const Group& tp_;
  at::ScalarType compute_;
  ComputeWeights weights_;  // bf16 copies of the weights, once per optimizer step
  at::Tensor up_, down_;
};

}  // namespace hetero
