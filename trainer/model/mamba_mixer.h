// Nemotron-H's Mamba-2 mixer (design §6; HF NemotronHMamba2Mixer):
//   in_proj -> z, x, B, C, dt
//   x, B, C: causal depthwise conv1d (kernel K, bias) then SiLU
//   dt = softplus(dt + dt_bias), A = -exp(A_log)
//   y = SSD scan (ssd_scan.h, fp32 state) + D * x
//   y = RMSNorm per group of (y * silu(z)) * norm.weight   (gate before norm,
//       HF MambaRMSNormGated / Zamba2RMSNormGated with norm_before_gate=False)
//   out_proj
// over packed samples (cu_seqlens): the conv and the scan start from zero
// state at every sample.
//
// Tensor parallelism splits heads and groups (tp must divide n_groups). To
// keep initialisation and checkpoints independent of tp while ParamSet
// shards contiguously, in_proj and conv1d store their rows group-major:
// for each group g, in_proj holds [z_g, x_g, B_g, C_g, dt_g] and conv1d
// [x_g, B_g, C_g], where z_g / x_g are the channels of g's heads. HF stores
// them component-major ([z, x, B, C, dt]); the *_rows_in_hf functions give
// the permutation for checkpoint import and export. The other tensors have
// HF's layout.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "dist/comm.h"
#include "model/params.h"
#include "model/sequence_mixer.h"

namespace hetero {

struct MambaConfig {
  int64_t hidden = 0;
  int64_t heads = 0;        // mamba_num_heads
  int64_t head_dim = 0;     // mamba_head_dim
  int64_t groups = 1;       // n_groups; divides heads
  int64_t state = 0;        // ssm_state_size
  int64_t conv_kernel = 4;  // conv_kernel
  int64_t chunk = 128;      // chunk_size of the SSD scan
  double norm_eps = 1e-5;   // layer_norm_epsilon
  double dt_clamp_min = 0;  // LlmArch::dt_clamp_min (0: no clamp)
  // dt_bias initialisation (HF / Mamba-2): dt log-uniform in [dt_min, dt_max],
  // floored at dt_floor, stored as softplus^-1(dt).
  double dt_min = 0.001, dt_max = 0.1, dt_floor = 1e-4;

  int64_t inner() const { return heads * head_dim; }
  int64_t conv_channels() const { return inner() + 2 * groups * state; }
  int64_t in_proj_rows() const { return inner() + conv_channels() + heads; }
};

class MambaMixer : public SequenceMixer {
 public:
  // Parameters (HF names): <prefix>.in_proj.weight, conv1d.weight,
  // conv1d.bias, dt_bias, A_log, D, norm.weight, out_proj.weight.
  MambaMixer(ParamSet& params, const std::string& prefix, const MambaConfig& cfg, const Group& tp,
             at::ScalarType compute);

  at::Tensor forward_partial(const at::Tensor& x, const std::vector<int64_t>& cu_seqlens) const override;

 private:
  MambaConfig cfg_;
  int64_t local_heads_, local_groups_;
  at::Tensor in_proj_, conv_w_, conv_b_, dt_bias_, A_log_, D_, norm_w_, out_proj_;
};

// Row r of our in_proj.weight is row result[r] of HF's.
std::vector<int64_t> mamba_in_proj_rows_in_hf(const MambaConfig& cfg);
// Channel c of our conv1d.weight / conv1d.bias is channel result[c] of HF's.
std::vector<int64_t> mamba_conv_channels_in_hf(const MambaConfig& cfg);

}  // namespace hetero
