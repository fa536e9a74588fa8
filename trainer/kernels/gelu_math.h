// The exact (erf) GELU and its derivative, per element in fp32, as ATen's
// gelu and gelu_backward compute them (approximate="none"); shared by the
// CUDA kernel and its CPU twin (host_device.h).
#pragma once

#include <math.h>

#include "kernels/host_device.h"

namespace hetero {

HETERO_HOST_DEVICE float gelu_erf(float u) { return 0.5f * u * (1.0f + erff(u * 0.70710678118654752f)); }

// d gelu(u) / du = Phi(u) + u phi(u).
HETERO_HOST_DEVICE float gelu_erf_grad(float u) {
  const float cdf = 0.5f * (1.0f + erff(u * 0.70710678118654752f));
  const float pdf = expf(-0.5f * u * u) * 0.39894228040143268f;  // 1 / sqrt(2 pi)
  return cdf + u * pdf;
}

}  // namespace hetero
