// The fused causal conv1d + SiLU's CPU loop (the CUDA kernels' per-element
// math, run through its autograd Function) against the ATen expression it
// replaces on CUDA (pad_packed + conv1d + silu, as the mixer computes it):
// forward values and the gradients of x, weight and bias, on packed
// sequences of unequal lengths (1, shorter than K, longer), to fp32
// rounding. The CUDA kernels themselves: test_gpu_fast_paths.cpp.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <torch/torch.h>

#include "fused_references.h"
#include "model/causal_conv1d.h"

namespace hetero {
namespace {

void expect_close(const at::Tensor& got, const at::Tensor& want, double rtol, const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  const at::Tensor a = got.detach().to(at::kDouble), b = want.detach().to(at::kDouble);
  const double scale = b.abs().max().item<double>(), err = (a - b).abs().max().item<double>();
  EXPECT_GT(scale, 0) << what << ": an all-zero reference checks nothing";
  EXPECT_LE(err, rtol * scale) << what << ": max error " << err << " vs scale " << scale;
}

struct ConvCase {
  std::vector<int64_t> cu_seqlens;
  int64_t groups, width, kernel;
  bool three_d;  // x as a strided [T, groups, width] narrow of a projection, else [T, channels]
};

std::string describe(const ConvCase& c) {
  std::string cu;
  for (const int64_t v : c.cu_seqlens) cu += std::to_string(v) + " ";
  return "cu_seqlens={ " + cu + "} groups=" + std::to_string(c.groups) + " width=" + std::to_string(c.width) +
         " K=" + std::to_string(c.kernel) + (c.three_d ? " x 3-D strided" : " x 2-D");
}

TEST(FusedCausalConv1d, ForwardAndGradientsEqualTheAtenExpression) {
  const ConvCase cases[] = {
      {{0, 1, 3, 8, 10}, 2, 5, 4, true},    // lengths 1, 2 (< K), 5, 2
      {{0, 7, 8, 9, 20}, 3, 8, 3, true},    // lengths 7, 1, 1, 11
      {{0, 6}, 1, 7, 4, false},             // one sequence
      {{0, 3, 4, 13}, 2, 4, 4, false},      // lengths 3, 1, 9
      {{0, 2, 12}, 2, 3, 8, true},          // K = 8, a sequence shorter than K
  };
  for (const ConvCase& c : cases) {
    const std::string what = describe(c);
    const int64_t tokens = c.cu_seqlens.back(), channels = c.groups * c.width;
    torch::manual_seed(tokens * 10 + c.kernel);
    // The leaf is the whole projection: its gradient checks the routing of dx back through the narrow.
    const at::Tensor proj = torch::randn({tokens, c.groups, c.width + 3}).set_requires_grad(true);
    const at::Tensor x = c.three_d ? proj.narrow(2, 2, c.width) : proj.narrow(2, 2, c.width).reshape({tokens, -1});
    if (c.three_d) ASSERT_NE(x.stride(0), channels) << what << ": x must be strided";
    const at::Tensor weight = (torch::randn({channels, 1, c.kernel}) * 0.5).set_requires_grad(true);
    const at::Tensor bias = (torch::randn({channels}) * 0.1).set_requires_grad(true);

    const at::Tensor fused = causal_conv1d_silu(x, weight, bias, c.cu_seqlens, at::kFloat);
    const at::Tensor reference = causal_conv1d_silu_reference(x, weight, bias, c.cu_seqlens);
    expect_close(fused, reference, 1e-5, "out " + what);
    const at::Tensor direction = torch::randn(reference.sizes());
    const std::vector<at::Tensor> leaves{proj, weight, bias};
    const auto got = torch::autograd::grad({(fused * direction).sum()}, leaves);
    const auto want = torch::autograd::grad({(reference * direction).sum()}, leaves);
    const char* names[] = {"dx", "dw", "db"};
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].sizes(), leaves[i].sizes()) << names[i];
      expect_close(got[i], want[i], 1e-5, names[i] + (" " + what));
    }
  }
}

// A token's output depends only on its own sequence: changing every other
// sequence leaves it bit for bit unchanged.
TEST(FusedCausalConv1d, SequencesDoNotSeeEachOther) {
  torch::manual_seed(4);
  const std::vector<int64_t> cu{0, 5, 6, 9};
  const at::Tensor x = torch::randn({9, 6}), weight = torch::randn({6, 1, 4}), bias = torch::randn({6});
  const at::Tensor other = x.clone();
  other.narrow(0, 0, 5).normal_();
  other.narrow(0, 6, 3).normal_();
  const at::Tensor a = causal_conv1d_silu(x, weight, bias, cu, at::kFloat);
  const at::Tensor b = causal_conv1d_silu(other, weight, bias, cu, at::kFloat);
  EXPECT_TRUE(at::equal(a.narrow(0, 5, 1), b.narrow(0, 5, 1)));
  EXPECT_FALSE(at::equal(a.narrow(0, 0, 5), b.narrow(0, 0, 5)));
}

// The mixer's dtypes: bf16 x and output. The fused op reads the same bf16
// values and computes in fp32, so its fp32 output equals the fp32
// expression on those values, and its bf16 output is that rounded.
TEST(FusedCausalConv1d, Bf16InputMatchesTheAtenExpression) {
  torch::manual_seed(8);
  const std::vector<int64_t> cu{0, 3, 11};
  const at::Tensor x = torch::randn({11, 2, 9}).to(at::kBFloat16).narrow(2, 1, 8).set_requires_grad(true);
  const at::Tensor weight = torch::randn({16, 1, 4}).set_requires_grad(true), bias = torch::randn({16});
  const at::Tensor reference = causal_conv1d_silu_reference(x, weight, bias, cu);
  expect_close(causal_conv1d_silu(x, weight, bias, cu, at::kFloat), reference, 1e-5, "fp32 out");
  const at::Tensor bf16 = causal_conv1d_silu(x, weight, bias, cu, at::kBFloat16);
  EXPECT_EQ(bf16.scalar_type(), at::kBFloat16);
  expect_close(bf16, reference, 1e-2, "bf16 out");
  const at::Tensor dx = torch::autograd::grad({bf16.to(at::kFloat).sum()}, {x})[0];
  EXPECT_EQ(dx.scalar_type(), at::kBFloat16);
  EXPECT_EQ(dx.sizes(), x.sizes());
}

TEST(FusedCausalConv1d, RejectsInvalidInputs) {
  const std::vector<int64_t> cu{0, 4, 6};
  const at::Tensor x = torch::randn({6, 8}), weight = torch::randn({8, 1, 4}), bias = torch::randn({8});
  EXPECT_THROW(causal_conv1d_silu(x, weight.narrow(0, 0, 7), bias, cu, at::kFloat), c10::Error);  // channels
  EXPECT_THROW(causal_conv1d_silu(x, torch::randn({8, 1, 9}), bias, cu, at::kFloat), c10::Error);  // K > 8
  EXPECT_THROW(causal_conv1d_silu(x, weight.to(at::kBFloat16), bias, cu, at::kFloat), c10::Error);
  EXPECT_THROW(causal_conv1d_silu(torch::randn({8, 6}).t(), weight, bias, cu, at::kFloat), c10::Error);  // strided
  EXPECT_THROW(causal_conv1d_silu(x, weight, bias, cu, at::kHalf), c10::Error);
  EXPECT_THROW(causal_conv1d_silu(x, weight, bias, {0, 4, 5}, at::kFloat), std::invalid_argument);
}

}  // namespace
}  // namespace hetero
