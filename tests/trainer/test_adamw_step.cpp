// The fused AdamW step's per-element math (run by its CPU loop) against the
// ATen ops both optimizers use on the CPU (optim/adamw_step.h): the same
// weights and moments over several steps, with weight decay everywhere, by
// mask, and none. The gradient scale (clipping) that both optimizers take
// gives, on the CPU, bit for bit the weights of scaling the gradients first.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "grad_scale_run.h"
#include "layer_checks.h"
#include "optim/adamw.h"
#include "optim/adamw_step.h"

namespace hetero {
namespace {

struct State {
  at::Tensor w, m, v;
};

State fresh_state(int64_t n) {
  torch::manual_seed(11);
  return {torch::randn({n}), at::zeros({n}), at::zeros({n})};
}

void expect_close(const at::Tensor& got, const at::Tensor& want, const std::string& what) {
  const double scale = want.abs().max().item<double>();
  EXPECT_LE((got - want).abs().max().item<double>(), 2e-6 * scale) << what;
}

void run_both(const at::Tensor& mask, double decay, const std::string& what) {
  const int64_t n = 1001;  // odd: no vector width divides it
  State fused = fresh_state(n), reference = fresh_state(n);
  for (int step = 1; step <= 4; ++step) {
    const at::Tensor g = torch::randn({n}) * (step == 2 ? 1e-3 : 1.0);  // small gradients too: eps matters
    AdamWStepConfig c;
    c.lr = 3e-3;
    c.beta1 = 0.9;
    c.beta2 = 0.95;
    c.eps = 1e-8;
    c.step = step;
    c.decay = decay;
    adamw_step_fused(fused.w, g, fused.m, fused.v, mask, c);
    adamw_step_reference(reference.w, g, reference.m, reference.v, mask, c);
  }
  expect_close(fused.w, reference.w, "w " + what);
  expect_close(fused.m, reference.m, "exp_avg " + what);
  expect_close(fused.v, reference.v, "exp_avg_sq " + what);
  // The weights moved: the comparison is not of two untouched copies.
  EXPECT_GT((fused.w - fresh_state(n).w).abs().max().item<double>(), 1e-3) << what;
}

TEST(AdamWStep, FusedLoopMatchesTheAtenOps) {
  run_both(at::Tensor(), 1.0, "without weight decay");
  run_both(at::Tensor(), 1.0 - 3e-3 * 0.1, "with weight decay");
  const at::Tensor mask = torch::rand({1001}) > 0.5;
  run_both(mask, 1.0 - 3e-3 * 0.1, "with a decay mask");
}

TEST(AdamWStep, TheMaskSparesTheWeightsItExcludes) {
  // With no gradient and fresh moments the update is decay alone.
  at::Tensor w = at::ones({4}), m = at::zeros({4}), v = at::zeros({4});
  const at::Tensor mask = torch::tensor({true, false, true, false});
  AdamWStepConfig c;
  c.lr = 1e-2;
  c.decay = 0.5;
  adamw_step_fused(w, at::zeros({4}), m, v, mask, c);
  EXPECT_TRUE(at::allclose(w, torch::tensor({0.5f, 1.0f, 0.5f, 1.0f})));
}

TEST(AdamWStep, MismatchedSizesAreRefused) {
  at::Tensor w = at::zeros({4}), m = at::zeros({4}), v = at::zeros({3});
  EXPECT_THROW(adamw_step_fused(w, at::zeros({4}), m, v, at::Tensor(), AdamWStepConfig()), c10::Error);
  EXPECT_FALSE(adamw_step_fusable(w, w, m, m));  // CPU tensors: the reference path
}

// The fused loop's grad_scale against the reference's, and against the
// fused loop on gradients scaled beforehand (the same fp32 product: equal).
TEST(AdamWStep, FusedLoopScalesTheGradientAsTheReference) {
  const int64_t n = 1001;
  State fused = fresh_state(n), reference = fresh_state(n), prescaled = fresh_state(n);
  for (int step = 1; step <= 3; ++step) {
    const at::Tensor g = torch::randn({n});
    AdamWStepConfig c;
    c.lr = 3e-3;
    c.step = step;
    c.decay = 1.0 - 3e-3 * 0.1;
    AdamWStepConfig scaled = c;
    scaled.grad_scale = 0.3 / (step + 1.7);
    adamw_step_fused(fused.w, g, fused.m, fused.v, at::Tensor(), scaled);
    adamw_step_reference(reference.w, g, reference.m, reference.v, at::Tensor(), scaled);
    adamw_step_fused(prescaled.w, g * scaled.grad_scale, prescaled.m, prescaled.v, at::Tensor(), c);
  }
  expect_close(fused.w, reference.w, "w");
  expect_close(fused.m, reference.m, "exp_avg");
  expect_close(fused.v, reference.v, "exp_avg_sq");
  EXPECT_TRUE(at::equal(fused.w, prescaled.w));
  EXPECT_TRUE(at::equal(fused.v, prescaled.v));
}

// Both optimizers on the CPU: step(lr, wd, factor) on the raw gradients
// gives exactly the weights of grad.mul_(factor) and then step(lr, wd, 1),
// what clipping did before it moved into the step; the gradients stay as
// they were. A wrong factor (applied twice, or not at all) fails.
TEST(AdamWStep, OptimizersApplyTheGradScaleExactlyOnce) {
  for (const bool distributed : {false, true}) {
    const test::GradScaleRun run = test::step_with_grad_scale(test::single_group(), 1000, distributed);
    EXPECT_TRUE(run.grads_untouched) << "the step does not write the gradient";
    for (size_t i = 0; i < run.scaled.size(); ++i)
      EXPECT_TRUE(at::equal(run.folded[i].value.detach(), run.scaled[i].value.detach()))
          << run.scaled[i].name << (distributed ? " (distributed)" : "");
  }
}

}  // namespace
}  // namespace hetero
