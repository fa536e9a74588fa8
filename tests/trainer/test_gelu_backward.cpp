// The exact-GELU backward with the activation recomputed beside it
// (model/gelu_backward.h): its per-element math, run by the CPU loop, against
// ATen's gelu and gelu_backward; the CUDA kernel runs the same math and is
// compared with them on the GPU (test_gpu_fast_paths.cpp).
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "model/gelu_backward.h"

namespace hetero {
namespace {

void expect_relative_close(const at::Tensor& got, const at::Tensor& want, double tolerance, const char* what) {
  const double scale = want.abs().max().item<double>();
  EXPECT_LE((got.to(at::kDouble) - want.to(at::kDouble)).abs().max().item<double>(), tolerance * scale) << what;
}

TEST(GeluBackward, CpuLoopMatchesAtenInFp32) {
  torch::manual_seed(3);
  // Odd shape; u over the whole range where erf and exp matter, tails included.
  const at::Tensor u = torch::randn({37, 45}) * 4, dh = torch::randn({37, 45});
  const GeluBackward r = gelu_backward_with_activation(dh, u);
  expect_relative_close(r.du, at::gelu_backward(dh, u), 1e-6, "du");
  expect_relative_close(r.h, at::gelu(u), 1e-6, "h");
  EXPECT_EQ(r.du.sizes(), u.sizes());
  EXPECT_EQ(r.h.scalar_type(), at::kFloat);
}

TEST(GeluBackward, Bf16InputsRoundOnceFromFp32) {
  torch::manual_seed(4);
  const at::Tensor u = (torch::randn({16, 64}) * 3).to(at::kBFloat16), dh = torch::randn({16, 64}).to(at::kBFloat16);
  const GeluBackward r = gelu_backward_with_activation(dh, u);
  ASSERT_EQ(r.du.scalar_type(), at::kBFloat16);
  // The fp32 result of the bf16 inputs, rounded to bf16 once: within one bf16 rounding (2^-8 relative).
  const at::Tensor want_du = at::gelu_backward(dh.to(at::kFloat), u.to(at::kFloat));
  const at::Tensor want_h = at::gelu(u.to(at::kFloat));
  EXPECT_LE(((r.du.to(at::kFloat) - want_du).abs() - want_du.abs() * (1.0 / 256)).max().item<double>(), 1e-6);
  EXPECT_LE(((r.h.to(at::kFloat) - want_h).abs() - want_h.abs() * (1.0 / 256)).max().item<double>(), 1e-6);
}

TEST(GeluBackward, TheKernelTakesOnlyAlignedBf16CudaTensors) {
  const at::Tensor u = torch::randn({8, 16}).to(at::kBFloat16);
  EXPECT_FALSE(gelu_backward_kernel_supports(u, u));  // a CPU tensor: the reference path
  EXPECT_THROW(gelu_backward_with_activation(u, u.to(at::kFloat)), c10::Error);
}

}  // namespace
}  // namespace hetero
