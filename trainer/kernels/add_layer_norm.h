// Per-element math of the fused residual add + LayerNorm
// (model/add_layer_norm.h), shared by the CUDA kernels (add_layer_norm.cu)
// and the CPU loop (model/add_layer_norm.cpp) so that CPU tests check the
// kernels' arithmetic. Over one row of n channels, in fp32:
//   h = x + a (then rounded to x's dtype);  mean = sum(h) / n;
//   rstd = 1 / sqrt(sum((h - mean)^2) / n + eps);  y = (h - mean) * rstd * gamma + beta
// The row sums are the caller's (a loop or a block reduction).
#pragma once

#include <math.h>

#include "kernels/host_device.h"

namespace hetero {

HETERO_HOST_DEVICE float add_layer_norm_mean(float sum, int n) { return sum / static_cast<float>(n); }

// The biased variance, as ATen's layer_norm: from the row's sum of squared
// deviations from the mean (a second pass over registers, not E[h^2] - mean^2).
HETERO_HOST_DEVICE float add_layer_norm_rstd(float sum_of_squared_deviations, int n, float eps) {
  return 1.0f / sqrtf(sum_of_squared_deviations / static_cast<float>(n) + eps);
}

HETERO_HOST_DEVICE float add_layer_norm_xhat(float h, float mean, float rstd) { return (h - mean) * rstd; }

HETERO_HOST_DEVICE float add_layer_norm_out(float h, float mean, float rstd, float gamma, float beta) {
  return add_layer_norm_xhat(h, mean, rstd) * gamma + beta;
}

// The backward's two row sums, of dxhat = dy * gamma and of dxhat * xhat;
// each divided by n gives the means in add_layer_norm_grad.
struct AddLayerNormRowTerms {
  float dxhat, dxhat_xhat;
};

HETERO_HOST_DEVICE AddLayerNormRowTerms add_layer_norm_row_terms(float dy, float h, float gamma, float mean,
                                                                 float rstd) {
  const float dxhat = dy * gamma;
  AddLayerNormRowTerms t;
  t.dxhat = dxhat;
  t.dxhat_xhat = dxhat * add_layer_norm_xhat(h, mean, rstd);
  return t;
}

struct AddLayerNormGrad {
  float dh;             // the gradient of h, the residual's (dh_in) included: dx = da = dh
  float dgamma, dbeta;  // this row's shares of gamma's and beta's gradients
};

// LayerNorm's backward: dh = dh_in + rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)).
HETERO_HOST_DEVICE AddLayerNormGrad add_layer_norm_grad(float dh_in, float dy, float h, float gamma, float mean,
                                                        float rstd, float mean_dxhat, float mean_dxhat_xhat) {
  const float xhat = add_layer_norm_xhat(h, mean, rstd);
  AddLayerNormGrad g;
  g.dh = dh_in + rstd * (dy * gamma - mean_dxhat - xhat * mean_dxhat_xhat);
  g.dgamma = dy * xhat;
  g.dbeta = dy;
  return g;
}

}  // namespace hetero
