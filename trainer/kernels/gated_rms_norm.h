// Per-element math of the gated RMSNorm (model/gated_rms_norm.h), shared by
// the CUDA kernels (gated_rms_norm.cu) and the CPU loop
// (model/gated_rms_norm.cpp) so that CPU tests check the kernels' arithmetic.
// Over one row (a token's group of n channels):
//   gated = y * silu(z);  rstd = 1 / sqrt(mean(gated^2) + eps);  out = gated * rstd * w
// Without a gate (gated = y) it is the plain RMSNorm (model/rms_norm.h).
#pragma once

#include <math.h>

#include "kernels/host_device.h"

namespace hetero {

constexpr int kGatedRmsNormMaxRow = 4096;  // channels per group (row) the CUDA kernels' registers hold

HETERO_HOST_DEVICE float gated_sigmoid(float z) { return 1.0f / (1.0f + expf(-z)); }

HETERO_HOST_DEVICE float gated_value(float y, float z) { return y * (z * gated_sigmoid(z)); }

HETERO_HOST_DEVICE float gated_rstd(float sum_of_squares, int n, float eps) {
  return 1.0f / sqrtf(sum_of_squares / static_cast<float>(n) + eps);
}

HETERO_HOST_DEVICE float gated_normed(float gated, float rstd, float w) { return gated * rstd * w; }

// The row's reduction in the backward: sum over the row of this term is
// sum(d_normed * normed), d_normed = d_out * w the gradient before the weight.
HETERO_HOST_DEVICE float gated_dot_term(float d_out, float gated, float rstd, float w) {
  return d_out * w * (gated * rstd);
}

struct GatedRmsNormGrad {
  float dy, dz, dw;  // dw: this row's share of w's gradient
};

// mean_dot = sum over the row of gated_dot_term / n. RMSNorm's backward:
// d_gated = rstd * (d_normed - normed * mean_dot), then through y * silu(z).
HETERO_HOST_DEVICE GatedRmsNormGrad gated_rms_norm_grad(float d_out, float y, float z, float w, float rstd,
                                                        float mean_dot) {
  const float sig = gated_sigmoid(z), silu = z * sig;
  const float gated = y * silu, normed = gated * rstd;
  const float d_gated = rstd * (d_out * w - normed * mean_dot);
  GatedRmsNormGrad r;
  r.dw = d_out * normed;
  r.dy = d_gated * silu;
  r.dz = d_gated * y * (sig * (1.0f + z * (1.0f - sig)));
  return r;
}

// The same without a gate (gated = y): dz is 0.
HETERO_HOST_DEVICE GatedRmsNormGrad rms_norm_grad(float d_out, float y, float w, float rstd, float mean_dot) {
  const float normed = y * rstd;
  GatedRmsNormGrad r;
  r.dw = d_out * normed;
  r.dy = rstd * (d_out * w - normed * mean_dot);
  r.dz = 0.0f;
  return r;
}

}  // namespace hetero
