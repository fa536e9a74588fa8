// The fused residual add + LayerNorm's CPU loop (the CUDA kernels'
// per-element math, run through its autograd Function) against the ATen
// expression it replaces on CUDA, h = x + a and at::layer_norm(h): forward
// values and the gradients of x, a, gamma and beta, on odd shapes, to fp32
// rounding. The CUDA kernels themselves: test_gpu_fast_paths.cpp.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "model/add_layer_norm.h"

namespace hetero {
namespace {

constexpr double kEps = 1e-5;

void expect_close(const at::Tensor& got, const at::Tensor& want, double rtol, const std::string& what) {
  ASSERT_TRUE(got.defined()) << what;
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  const at::Tensor a = got.detach().to(at::kDouble), b = want.detach().to(at::kDouble);
  const double scale = b.abs().max().item<double>(), err = (a - b).abs().max().item<double>();
  EXPECT_GT(scale, 0) << what << ": an all-zero reference checks nothing";
  EXPECT_LE(err, rtol * scale) << what << ": max error " << err << " vs scale " << scale;
}

struct Inputs {
  at::Tensor x, a, gamma, beta;  // leaves, requiring gradients
};

// x and a of the given shape, with an offset so that the mean matters;
// gamma and beta away from 1 and 0 so that their use shows.
Inputs inputs(at::IntArrayRef shape) {
  const int64_t n = shape.back();
  Inputs in;
  in.x = (torch::randn(shape) + 0.5).set_requires_grad(true);
  in.a = torch::randn(shape).set_requires_grad(true);
  in.gamma = (torch::rand({n}) + 0.5).set_requires_grad(true);
  in.beta = torch::randn({n}).set_requires_grad(true);
  return in;
}

std::vector<at::Tensor> leaves(const Inputs& in) { return {in.x, in.a, in.gamma, in.beta}; }

// The ATen expression that TransformerBlock::forward computes off CUDA.
AddLayerNorm reference(const Inputs& in) {
  const at::Tensor h = in.x + in.a;
  return {h, at::layer_norm(h, {in.gamma.size(0)}, in.gamma, in.beta, kEps)};
}

// A loss through both outputs, so that h gets a gradient from the residual path too.
at::Tensor loss(const AddLayerNorm& out, const at::Tensor& dir_h, const at::Tensor& dir_y) {
  return (out.h * dir_h).sum() + (out.y * dir_y).sum();
}

TEST(FusedAddLayerNorm, ForwardAndGradientsEqualTheAtenExpression) {
  const std::vector<std::vector<int64_t>> shapes = {{1, 8},  {7, 8},    {33, 8},   {1, 24},  {7, 24},
                                                    {33, 24}, {1, 1280}, {7, 1280}, {33, 1280}, {2, 3, 24}};
  for (const std::vector<int64_t>& shape : shapes) {
    const std::string at_shape = " at " + c10::str(at::IntArrayRef(shape));
    torch::manual_seed(shape.front() * 1000 + shape.back());
    const Inputs in = inputs(shape);
    const AddLayerNorm fused = add_layer_norm(in.x, in.a, in.gamma, in.beta, kEps), want = reference(in);
    expect_close(fused.h, want.h, 1e-5, "h" + at_shape);
    expect_close(fused.y, want.y, 1e-5, "y" + at_shape);
    const at::Tensor dir_h = torch::randn(shape), dir_y = torch::randn(shape);
    const auto got = torch::autograd::grad({loss(fused, dir_h, dir_y)}, leaves(in));
    const auto expected = torch::autograd::grad({loss(want, dir_h, dir_y)}, leaves(in));
    const char* names[] = {"dx", "da", "d gamma", "d beta"};
    for (size_t i = 0; i < got.size(); ++i) expect_close(got[i], expected[i], 1e-5, names[i] + at_shape);
  }
}

// A gradient that is absent, or all zeros: no contribution.
bool contributes_nothing(const at::Tensor& grad) { return !grad.defined() || grad.abs().max().item<float>() == 0; }

// A loss on h alone: x and a get exactly its gradient, gamma and beta none.
TEST(FusedAddLayerNorm, TheResidualPathAloneBackpropagates) {
  torch::manual_seed(2);
  const Inputs in = inputs({7, 24});
  const at::Tensor dir_h = torch::randn({7, 24});
  (add_layer_norm(in.x, in.a, in.gamma, in.beta, kEps).h * dir_h).sum().backward();
  ASSERT_TRUE(in.x.grad().defined() && in.a.grad().defined());
  EXPECT_TRUE(at::equal(in.x.grad(), dir_h));
  EXPECT_TRUE(at::equal(in.a.grad(), dir_h));
  EXPECT_TRUE(contributes_nothing(in.gamma.grad()));
  EXPECT_TRUE(contributes_nothing(in.beta.grad()));
}

// A loss on y alone: the LayerNorm's gradients without a residual term.
TEST(FusedAddLayerNorm, TheNormPathAloneBackpropagates) {
  torch::manual_seed(3);
  const Inputs in = inputs({33, 24});
  const at::Tensor dir_y = torch::randn({33, 24});
  const auto got =
      torch::autograd::grad({(add_layer_norm(in.x, in.a, in.gamma, in.beta, kEps).y * dir_y).sum()}, leaves(in));
  const auto want = torch::autograd::grad({(reference(in).y * dir_y).sum()}, leaves(in));
  const char* names[] = {"dx", "da", "d gamma", "d beta"};
  for (size_t i = 0; i < got.size(); ++i) expect_close(got[i], want[i], 1e-5, names[i]);
}

// The block's dtypes: bf16 x and a with the fp32 gamma and beta. h is the
// bf16 sum exactly; y is the fp32 LayerNorm of that h, rounded to bf16.
TEST(FusedAddLayerNorm, Bf16HIsTheRoundedSumAndYItsNorm) {
  torch::manual_seed(4);
  const Inputs in = inputs({7, 24});
  const at::Tensor x = in.x.detach().to(at::kBFloat16), a = in.a.detach().to(at::kBFloat16);
  const AddLayerNorm fused = add_layer_norm(x, a, in.gamma.detach(), in.beta.detach(), kEps);
  ASSERT_EQ(fused.h.scalar_type(), at::kBFloat16);
  ASSERT_EQ(fused.y.scalar_type(), at::kBFloat16);
  const at::Tensor h = x + a;
  EXPECT_TRUE(at::equal(fused.h, h));
  const at::Tensor y = at::layer_norm(h.to(at::kFloat), {24}, in.gamma.detach(), in.beta.detach(), kEps);
  expect_close(fused.y.to(at::kFloat), y, 1e-2, "bf16 y");
}

TEST(FusedAddLayerNorm, RejectsMismatchedInputs) {
  const Inputs in = inputs({3, 8});
  const at::Tensor x = in.x.detach(), a = in.a.detach(), g = in.gamma.detach(), b = in.beta.detach();
  EXPECT_THROW(add_layer_norm(x, a.narrow(0, 0, 2), g, b, kEps), c10::Error);
  EXPECT_THROW(add_layer_norm(x, a.to(at::kBFloat16), g, b, kEps), c10::Error);
  EXPECT_THROW(add_layer_norm(x, a, g.to(at::kBFloat16), b, kEps), c10::Error);
  EXPECT_THROW(add_layer_norm(x, a, g.narrow(0, 0, 4), b, kEps), c10::Error);
  EXPECT_THROW(add_layer_norm(x, torch::randn({8, 3}).t(), g, b, kEps), c10::Error);
  EXPECT_FALSE(add_layer_norm_supported(x)) << "the CUDA kernels take CUDA tensors only";
}

}  // namespace
}  // namespace hetero
