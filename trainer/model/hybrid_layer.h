// One layer of the Nemotron-H hybrid stack (HF NemotronHBlock):
//   x + mixer(RMSNorm(x))
// where the mixer is the layer's kind in hybrid_override_pattern: M Mamba-2,
// * attention, - squared-ReLU MLP, E MoE. There is no second sub-layer.
// The mixer is the tp region; under sequence parallelism the norm and the
// residual stream hold this rank's 1/tp of every sequence, and the region
// is entered by all-gather and left by reduce-scatter (tp_ops.h).
#pragma once

#include <memory>
#include <string>

#include <ATen/ATen.h>

#include "dist/comm.h"
#include "hetero/recipe.h"
#include "model/attention.h"
#include "model/mamba_mixer.h"
#include "model/mlp.h"
#include "model/moe.h"
#include "model/params.h"

namespace hetero {

// The Mamba-2 mixer's configuration from the recipe's LLM architecture.
MambaConfig mamba_config(const LlmArch& arch);

// The LLM's RMSNorm (epsilon 1e-5, the value hf_config requires) of the fp32
// residual stream x, written in out_dtype: on CUDA one fused op
// (rms_norm_fused), elsewhere the ATen expression (the reference path).
at::Tensor llm_rms_norm(const at::Tensor& x, const at::Tensor& weight, at::ScalarType out_dtype);

class HybridLayer {
 public:
  // Parameters: <prefix>.norm.weight and <prefix>.mixer.* (HF names);
  // routed experts go to `experts` (a ParamSet over this rank's etp), the
  // rest to `params` (over tp).
  HybridLayer(ParamSet& params, ParamSet& experts, const std::string& prefix, char kind, const LlmArch& arch,
              const ModuleGroups& groups, bool sequence_parallel, at::ScalarType compute);

  char kind() const { return kind_; }
  MoeLayer* moe() { return moe_.get(); }  // null unless kind 'E'

  // x [B, S, hidden], replicated over tp (sequence parallel: this rank's
  // [B, S/tp, hidden] slice); each of the B rows is one sample (its own
  // sequence). An MoE layer sets *load_balancing to its load-balancing loss
  // (the mean over the B sequences), others leave it.
  at::Tensor forward(const at::Tensor& x, at::Tensor* load_balancing) const;

 private:
  at::Tensor mix(const at::Tensor& h, at::Tensor* load_balancing) const;
  at::Tensor moe(const at::Tensor& h, at::Tensor* load_balancing) const;

  char kind_;
  const Group& tp_;
  bool sp_;
  at::ScalarType compute_;
  at::Tensor norm_;
  std::unique_ptr<SequenceMixer> sequence_mixer_;  // kinds M and *
  std::unique_ptr<SquaredReluMlp> mlp_;
  std::unique_ptr<MoeLayer> moe_;
};

}  // namespace hetero
