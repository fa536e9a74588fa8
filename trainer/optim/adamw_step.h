// One AdamW step of one tensor, in place: the element-wise update both
// optimizers of optim/adamw.h apply. Two paths side by side: the ATen ops
// (the reference, eight passes over the tensor, run on the CPU) and a fused
// pass over the same per-element math (kernels/adamw.h): the CUDA kernel for
// CUDA fp32 tensors, a CPU loop for CPU ones, which tests compare with the
// reference.
#pragma once

#include <ATen/ATen.h>

namespace hetero {

struct AdamWStepConfig {
  double lr = 0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  int step = 1;  // 1-based, for the bias corrections
  // The factor weights are multiplied by before the update (1 - lr * weight
  // decay); with a decay mask (bool, one per element) only where it is true.
  double decay = 1.0;
  // The factor the gradient is multiplied by first, in fp32 (gradient
  // clipping), without writing it back: in the fused pass as it is read.
  double grad_scale = 1.0;
};

// w, m, v updated from g; all of one element count, fp32 for m and v.
// decay_mask: bool of w's element count, or undefined (decay everywhere).
void adamw_step(at::Tensor& w, const at::Tensor& g, at::Tensor& m, at::Tensor& v, const at::Tensor& decay_mask,
                const AdamWStepConfig& cfg);

// The two paths that adamw_step chooses between (the fused one where
// adamw_step_fusable).
void adamw_step_reference(at::Tensor& w, const at::Tensor& g, at::Tensor& m, at::Tensor& v,
                          const at::Tensor& decay_mask, const AdamWStepConfig& cfg);
void adamw_step_fused(at::Tensor& w, const at::Tensor& g, at::Tensor& m, at::Tensor& v, const at::Tensor& decay_mask,
                      const AdamWStepConfig& cfg);
// CUDA, fp32 and contiguous, all four on one device.
bool adamw_step_fusable(const at::Tensor& w, const at::Tensor& g, const at::Tensor& m, const at::Tensor& v);

}  // namespace hetero
