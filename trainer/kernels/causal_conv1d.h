// Per-element math of the causal depthwise conv1d + bias + SiLU
// (model/causal_conv1d.h), shared by the CUDA kernels (causal_conv1d.cu) and
// the CPU loop (model/causal_conv1d.cpp) so that CPU tests check the
// kernels' arithmetic. Per token t and channel c, with K taps:
//   pre = bias + sum_k w[k] * x[t - (K-1) + k];  out = silu(pre)
// where rows before the start of t's sequence read zero. Windows hold those
// K rows (window[k] = x[t - (K-1) + k], zeros outside the sequence), so the
// math itself never sees a sequence boundary.
#pragma once

#include <math.h>

#include "kernels/host_device.h"

namespace hetero {

HETERO_HOST_DEVICE float causal_conv_sigmoid(float v) { return 1.0f / (1.0f + expf(-v)); }

HETERO_HOST_DEVICE float causal_conv_pre(const float* w, float bias, const float* window, int taps) {
  float acc = bias;
  for (int k = 0; k < taps; ++k) acc += w[k] * window[k];
  return acc;
}

HETERO_HOST_DEVICE float causal_conv_silu(float pre) { return pre * causal_conv_sigmoid(pre); }

// The gradient at the pre-activation: d_out * silu'(pre).
HETERO_HOST_DEVICE float causal_conv_pre_grad(float d_out, float pre) {
  const float sig = causal_conv_sigmoid(pre);
  return d_out * (sig * (1.0f + pre * (1.0f - sig)));
}

// dx[t] = sum_k w[k] * g[t + (K-1) - k], from a window of the following
// gradients: g_window[j] = g[t + j], zeros past the end of t's sequence.
HETERO_HOST_DEVICE float causal_conv_dx(const float* w, const float* g_window, int taps) {
  float acc = 0.0f;
  for (int j = 0; j < taps; ++j) acc += w[taps - 1 - j] * g_window[j];
  return acc;
}

}  // namespace hetero
