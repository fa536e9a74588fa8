// The CUDA fast paths of the training step against their references (skipped
// where no CUDA device is visible, as in CI): the MoE experts' stacked bf16
// copy whose backward adds into the fp32 masters' .grad, the AdamW step
// that takes the clipping factor as it reads the gradient, and the one-pass
// gradient statistics kernel against the CPU's fp64 sums, and the bias
// gradients' column-sum kernel against the same.
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include "grad_scale_run.h"
#include "layer_checks.h"
#include "model/params.h"
#include "optim/adamw.h"
#include "optim/adamw_step.h"
#include "optim/grads.h"
#ifdef HETERO_WITH_CUDA
#include "kernels/column_sums_launch.h"
#include "kernels/grad_stats_launch.h"
#endif

namespace hetero {
namespace {

#define SKIP_WITHOUT_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device: the fast paths run on the GPU only"

const at::Device kGpu(at::kCUDA, 0);

void expect_fp32_close(const at::Tensor& got, const at::Tensor& want, double rtol, const std::string& what) {
  test::expect_close(got.detach().to(at::kCPU, at::kDouble), want.detach().to(at::kCPU, at::kDouble), rtol, what);
}

// ComputeWeights::stacked on the GPU (bf16 copy of fp32 masters) against the
// same on the CPU, whose backward casts each expert's gradient and lets
// autograd add it: two backward passes (accumulation), with the masters'
// .grad undefined at first, set beforehand as separate tensors (as
// zero_grads leaves them), and with one expert frozen.
TEST(GpuStepKernels, StackedCopyAddsIntoTheFp32Grads) {
  SKIP_WITHOUT_CUDA();
  const int64_t experts = 5, rows = 7, cols = 9;  // odd sizes
  enum class Start { Undefined, Separate, Frozen };
  for (const Start start : {Start::Undefined, Start::Separate, Start::Frozen}) {
    const std::string what = start == Start::Undefined ? "grads undefined at first"
                             : start == Start::Separate ? "grads set beforehand"
                                                        : "one expert frozen";
    torch::manual_seed(21);
    std::vector<at::Tensor> values, initial;
    for (int64_t e = 0; e < experts; ++e) {
      values.push_back(torch::randn({rows, cols}));
      initial.push_back(torch::randn({rows, cols}));
    }
    std::vector<at::Tensor> directions;
    for (int pass = 0; pass < 2; ++pass) directions.push_back(torch::randn({experts, rows, cols}));

    auto run = [&](at::Device device) {
      std::vector<at::Tensor> masters;
      for (int64_t e = 0; e < experts; ++e) {
        // clone(): on the CPU .to() returns the tensor itself, and backward
        // adds into .grad in place; each run must start from the same values.
        at::Tensor m = values[e].to(device).clone().set_requires_grad(start != Start::Frozen || e != 2);
        if (start == Start::Separate) m.mutable_grad() = initial[e].to(device).clone();
        masters.push_back(m);
      }
      const ComputeWeights weights(at::kBFloat16);
      for (int pass = 0; pass < 2; ++pass) {
        const at::Tensor w = weights.stacked(masters);
        EXPECT_EQ(w.scalar_type(), at::kBFloat16) << what;
        (w.to(at::kFloat) * directions[pass].to(device)).sum().backward();
      }
      return masters;
    };
    const std::vector<at::Tensor> want = run(at::kCPU), got = run(kGpu);
#ifdef HETERO_WITH_CUDA
    ASSERT_TRUE(ComputeWeights(at::kBFloat16).accumulates_in_gemm(got[0]));
#endif
    for (int64_t e = 0; e < experts; ++e) {
      const std::string at_expert = what + ", expert " + std::to_string(e);
      ASSERT_EQ(got[e].grad().defined(), want[e].grad().defined()) << at_expert;
      if (!want[e].grad().defined()) continue;
      EXPECT_EQ(got[e].grad().scalar_type(), at::kFloat) << at_expert;
      EXPECT_EQ(got[e].grad().sizes(), want[e].grad().sizes()) << at_expert;
      expect_fp32_close(got[e].grad(), want[e].grad(), 1e-6, at_expert);
    }
#ifdef HETERO_WITH_CUDA
    if (start != Start::Frozen) {
      // One [E, ...] buffer, so that later backwards add the stack in one go.
      for (int64_t e = 1; e < experts; ++e)
        EXPECT_EQ(got[e].grad().data_ptr<float>(), got[0].grad().data_ptr<float>() + e * rows * cols) << what;
    }
#endif
  }
}

// The fused AdamW kernel with grad_scale against the same kernel on
// gradients scaled beforehand (the same fp32 product), with weight decay
// by mask, and the reference on the CPU; then both optimizers on CUDA
// parameters: step(lr, wd, factor) against grad.mul_(factor) and a step.
TEST(GpuStepKernels, AdamWGradScaleEqualsScalingTheGradientsFirst) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(8);
  const int64_t n = 1024 * 1024 + 3;
  at::Tensor w = torch::randn({n}), m = at::zeros({n}), v = at::zeros({n});
  at::Tensor wg = w.to(kGpu), mg = m.to(kGpu), vg = v.to(kGpu);
  at::Tensor wp = wg.clone(), mp = mg.clone(), vp = vg.clone();
  const at::Tensor mask = torch::rand({n}) > 0.3;
  const at::Tensor mask_gpu = mask.to(kGpu);
  ASSERT_TRUE(adamw_step_fusable(wg, wg, mg, vg));
  for (int step = 1; step <= 3; ++step) {
    const at::Tensor g = torch::randn({n});
    AdamWStepConfig c;
    c.lr = 3e-3;
    c.beta2 = 0.95;
    c.step = step;
    c.decay = 1.0 - 3e-3 * 0.1;
    AdamWStepConfig scaled = c;
    scaled.grad_scale = 0.37 / step;
    const at::Tensor gg = g.to(kGpu);
    adamw_step(wg, gg, mg, vg, mask_gpu, scaled);
    adamw_step(wp, gg * scaled.grad_scale, mp, vp, mask_gpu, c);
    adamw_step_reference(w, g * scaled.grad_scale, m, v, mask, c);
    EXPECT_TRUE(at::equal(gg.cpu(), g)) << "the step does not write the gradient";
  }
  expect_fp32_close(wg, wp, 1e-6, "w against scaling first");
  expect_fp32_close(mg, mp, 1e-6, "exp_avg against scaling first");
  expect_fp32_close(vg, vp, 1e-6, "exp_avg_sq against scaling first");
  expect_fp32_close(wg, w, 1e-5, "w against the CPU reference");
  expect_fp32_close(vg, v, 1e-5, "exp_avg_sq against the CPU reference");

  Group one = test::single_group();
  one.device = kGpu;
  for (const bool distributed : {false, true}) {
    const test::GradScaleRun run = test::step_with_grad_scale(one, 100003, distributed);
    EXPECT_TRUE(run.grads_untouched) << "the step does not write the gradient";
    for (size_t i = 0; i < run.scaled.size(); ++i)
      expect_fp32_close(run.folded[i].value, run.scaled[i].value, 1e-6,
                        run.scaled[i].name + (distributed ? " (distributed)" : ""));
  }
}

// local_grad_stats on CUDA gradients (the one-pass kernel for contiguous
// fp32 ones) against the CPU's fp64 sums: odd sizes (1 element, 1000003),
// empty and non-contiguous gradients (the ATen path beside the kernel),
// planted zeros of both signs, counted exactly.
TEST(GpuStepKernels, GradStatsKernelMatchesFp64) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(9);
  const Group one = test::single_group();
  std::vector<Param> cpu, gpu;
  const std::vector<std::vector<int64_t>> shapes = {{1}, {1000003}, {0}, {3, 5}, {257, 129}, {1}};
  int64_t planted = 0;
  for (size_t k = 0; k < shapes.size(); ++k) {
    at::Tensor g = torch::randn(shapes[k]) * (k == 3 ? 1e3 : 1e-2);
    if (k == 5) g.zero_();  // a one-element zero gradient
    at::Tensor flat = g.view({-1});
    for (int64_t i = 0; i < flat.numel(); i += 997) flat[i] = (i / 997) % 2 == 0 ? 0.0f : -0.0f;
    planted += (flat.numel() + 996) / 997;
    for (std::vector<Param>* params : {&cpu, &gpu}) {
      const at::Device device = params == &gpu ? kGpu : at::kCPU;
      Param p;
      // {257, 129} as the transpose of a contiguous {129, 257}: not contiguous.
      p.value = at::zeros(shapes[k], at::TensorOptions().device(device)).set_requires_grad(true);
      p.value.mutable_grad() = k == 4 ? g.t().contiguous().to(device).t() : g.to(device);
      params->push_back(p);
    }
  }
  ASSERT_FALSE(gpu[4].value.grad().is_contiguous());
  const at::Tensor want = local_grad_stats(cpu, one, one, at::kCPU);
  const at::Tensor got = local_grad_stats(gpu, one, one, kGpu);
  ASSERT_TRUE(got.is_cuda());
  EXPECT_EQ(got.scalar_type(), at::kDouble);
  ASSERT_EQ(got.sizes(), want.sizes());
  expect_fp32_close(got.narrow(0, 0, 1), want.narrow(0, 0, 1), 1e-6, "sum of squares");
  EXPECT_EQ(got[1].item<double>(), want[1].item<double>());
  EXPECT_GE(want[1].item<double>(), static_cast<double>(planted));
#ifdef HETERO_WITH_CUDA
  // The kernel alone on each size, and on them all at once.
  std::vector<at::Tensor> all;
  for (const int64_t n : {int64_t{1}, int64_t{1000003}, int64_t{4097}}) {
    at::Tensor g = torch::randn({n});
    g.view({-1}).narrow(0, 0, std::min<int64_t>(n, 3)).zero_();
    const at::Tensor stats = grad_stats_cuda({g.to(kGpu)});
    const double sq = g.to(at::kDouble).pow(2).sum().item<double>();
    EXPECT_NEAR(stats[0].item<double>(), sq, 1e-6 * sq) << n;
    EXPECT_EQ(stats[1].item<double>(), static_cast<double>(std::min<int64_t>(n, 3))) << n;
    all.push_back(g.to(kGpu));
  }
  const at::Tensor stats = grad_stats_cuda(all);
  double sq = 0;
  for (const at::Tensor& g : all) sq += g.cpu().to(at::kDouble).pow(2).sum().item<double>();
  EXPECT_NEAR(stats[0].item<double>(), sq, 1e-6 * sq);
  EXPECT_EQ(stats[1].item<double>(), 7.0);
  // Deterministic: the same bits again.
  EXPECT_TRUE(at::equal(grad_stats_cuda(all), stats));
#endif
}

// bias_grad on CUDA (the column-sum kernel where it takes the shape, the
// GEMM of ones elsewhere) against the CPU's fp64 column sums: bf16 and fp32,
// rows from 1 to the encoder's 1024-px microbatch (12,318 tokens), columns
// narrower than one block and not a multiple of the block's 256 (the
// kernel), and 7 columns and a non-contiguous gradient (the GEMM). Each
// column sum within fp32 rounding of the terms' magnitudes (the result then
// rounded once to the gradient's dtype); the kernel's fp32 sums the same
// bits on a second call.
TEST(GpuStepKernels, BiasGradColumnSumsMatchFp64) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(13);
  struct Case {
    int64_t rows, cols;
    bool transposed;
  };
  const std::vector<Case> cases = {{1, 8, false},     {37, 1288, false}, {12318, 1280, false},
                                   {12318, 5128, false}, {300, 7, false},  {129, 264, true}};
  for (const at::ScalarType dtype : {at::kBFloat16, at::kFloat}) {
    for (const Case& c : cases) {
      const std::string what = std::string(c10::toString(dtype)) + " [" + std::to_string(c.rows) + ", " +
                               std::to_string(c.cols) + "]" + (c.transposed ? " transposed" : "");
      // A common offset per column, as bias gradients have, and noise around it.
      const at::Tensor cpu = (torch::randn({c.rows, c.cols}) + torch::randn({1, c.cols}) * 3).to(dtype);
      at::Tensor gpu = c.transposed ? cpu.t().contiguous().to(kGpu).t() : cpu.to(kGpu);
      ASSERT_EQ(gpu.is_contiguous(), !c.transposed) << what;
      const at::Tensor got = bias_grad(gpu);
      ASSERT_EQ(got.scalar_type(), dtype) << what;
      const at::Tensor exact = cpu.to(at::kDouble).sum(0), magnitude = cpu.to(at::kDouble).abs().sum(0);
      const double unit = dtype == at::kBFloat16 ? 1.0 / 256 : 1.2e-7;  // the dtype's rounding, relative
      const at::Tensor err = (got.to(at::kCPU, at::kDouble) - exact).abs();
      const at::Tensor bound = exact.abs() * unit + magnitude * 1e-6 + 1e-30;
      EXPECT_TRUE((err <= bound).all().item<bool>())
          << what << ": worst error / bound " << (err / bound).max().item<double>();
#ifdef HETERO_WITH_CUDA
      if (column_sums_supported(gpu)) {
        const at::Tensor sums = column_sums_cuda(gpu);
        ASSERT_EQ(sums.scalar_type(), at::kFloat) << what;
        const at::Tensor fp32_err = (sums.to(at::kCPU, at::kDouble) - exact).abs();
        EXPECT_TRUE((fp32_err <= magnitude * 1e-6 + 1e-30).all().item<bool>()) << what;
        EXPECT_TRUE(at::equal(column_sums_cuda(gpu), sums)) << what << ": not deterministic";
      } else {
        EXPECT_TRUE(c.cols % 8 != 0 || c.transposed) << what << ": the kernel should take this shape";
      }
#endif
    }
  }
}

}  // namespace
}  // namespace hetero
