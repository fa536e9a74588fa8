// Per-element math of one AdamW step (optim/adamw_step.h), shared by the
// CUDA kernel (adamw.cu) and its CPU twin loop, in the order and rounding of
// the ATen ops it replaces (optim/adamw_step.cpp, adamw_step_reference):
//   g = g * grad_scale  (gradient clipping; 1 without)
//   w = w * decay;  m = m * b1 + (1 - b1) g;  v = v * b2 + (1 - b2) g g
//   w = w + step_size * m / (sqrt(v * inv_bias_correction2) + eps)
// with step_size = -lr / (1 - b1^t) and inv_bias_correction2 = 1 / (1 - b2^t).
#pragma once

#include <math.h>

#include "kernels/host_device.h"

namespace hetero {

struct AdamWScalars {
  float decay;  // 1 - lr * weight_decay where weight decay applies
  float beta1, one_minus_beta1, beta2, one_minus_beta2;
  float inv_bias_correction2, eps, step_size;
  // The gradient's factor, as it is read: an fp32 product, as the in-place
  // multiply of the gradient it replaces (exact where 1).
  float grad_scale;
};

HETERO_HOST_DEVICE void adamw_element(float& w, float g, float& m, float& v, float decay, const AdamWScalars& s) {
  g = g * s.grad_scale;
  w = w * decay;
  m = m * s.beta1 + s.one_minus_beta1 * g;
  v = v * s.beta2 + s.one_minus_beta2 * (g * g);
  const float denom = sqrtf(v * s.inv_bias_correction2) + s.eps;
  w = w + s.step_size * (m / denom);
}

}  // namespace hetero
