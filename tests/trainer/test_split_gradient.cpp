// A projection split with one gradient buffer (model/split_gradient.h), as
// the Mamba mixer splits its in_proj: z to the gated RMSNorm, x B C to the
// causal conv1d, dt to ATen ops. The projection's gradient must be what
// at::split_with_sizes and the consumers' own gradients give, bit for bit
// (the consumers compute the same values, only where they write them
// differs), whether a consumer writes into the buffer, autograd sums two
// consumers' gradients, or a part has no consumer at all (its slice of the
// uninitialised buffer must read zero). On CPU and, with the kernels' vector
// and scalar paths, on CUDA.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <torch/torch.h>

#include "model/causal_conv1d.h"
#include "model/gated_rms_norm.h"
#include "model/split_gradient.h"

namespace hetero {
namespace {

struct SplitCase {
  int64_t groups, z_width, conv_width, dt_width;
  std::string name;
};

enum class Use { kAll, kConvTwice, kNoConv };

// The projection's gradient through the three consumers, with or without
// the gradient buffer.
at::Tensor projection_grad(const SplitCase& c, const at::Device& device, at::ScalarType dtype, bool buffer, Use use) {
  torch::manual_seed(11);
  const std::vector<int64_t> cu{0, 3, 4, 11, 16};
  const int64_t tokens = cu.back(), width = c.z_width + c.conv_width + c.dt_width;
  const auto f32 = at::TensorOptions().device(device);
  const at::Tensor proj = torch::randn({tokens, c.groups, width}, f32).to(dtype).set_requires_grad(true);
  const at::Tensor y = torch::randn({tokens, c.groups * c.z_width}, f32);
  const at::Tensor conv_w = torch::randn({c.groups * c.conv_width, 1, 4}, f32) * 0.5;
  const at::Tensor conv_b = torch::randn({c.groups * c.conv_width}, f32) * 0.1;
  const at::Tensor norm_w = torch::rand({c.groups * c.z_width}, f32) + 0.5;
  const std::vector<int64_t> sizes{c.z_width, c.conv_width, c.dt_width};

  c10::intrusive_ptr<SplitGradientBuffer> grad;
  std::vector<at::Tensor> parts;
  if (buffer) {
    grad = c10::make_intrusive<SplitGradientBuffer>(proj, sizes);
    parts = split_with_gradient_buffer(proj, grad);
  } else {
    parts = at::split_with_sizes(proj, sizes, 2);
  }
  const at::Tensor normed = gated_rms_norm(y, parts[0], norm_w, c.groups, 1e-5, dtype, GradientInto{grad, 0});
  at::Tensor loss = (normed.to(at::kFloat) * torch::randn(normed.sizes(), f32)).sum();
  if (use != Use::kNoConv) {
    const at::Tensor conv = causal_conv1d_silu(parts[1], conv_w, conv_b, cu, dtype, GradientInto{grad, 1});
    loss = loss + (conv.to(at::kFloat) * torch::randn(conv.sizes(), f32)).sum();
  }
  if (use == Use::kConvTwice) loss = loss + (parts[1].to(at::kFloat) * 3.0).sum();
  loss = loss + (at::softplus(parts[2].to(at::kFloat)) * torch::randn(parts[2].sizes(), f32)).sum();
  loss.backward();
  return proj.grad();
}

void expect_same_gradients(const SplitCase& c, const at::Device& device, at::ScalarType dtype) {
  for (const Use use : {Use::kAll, Use::kConvTwice, Use::kNoConv}) {
    const std::string what = c.name + " use " + std::to_string(static_cast<int>(use));
    const at::Tensor want = projection_grad(c, device, dtype, false, use);
    const at::Tensor got = projection_grad(c, device, dtype, true, use);
    ASSERT_EQ(got.sizes(), want.sizes()) << what;
    EXPECT_GT(want.abs().max().item<double>(), 0) << what << ": an all-zero gradient checks nothing";
    EXPECT_TRUE(at::equal(got, want)) << what << ": max difference " << (got - want).abs().max().item<double>();
    if (use == Use::kNoConv) {
      EXPECT_EQ(got.narrow(2, c.z_width, c.conv_width).abs().max().item<double>(), 0) << what;
    }
  }
}

const SplitCase kCases[] = {
    {2, 16, 32, 8, "16-byte rows (the kernels' vector path)"},
    {3, 5, 7, 3, "odd widths (the scalar path)"},
};

TEST(SplitGradient, TheBufferGivesWhatTheConcatenationGives) {
  for (const SplitCase& c : kCases) expect_same_gradients(c, at::kCPU, at::kFloat);
}

TEST(SplitGradient, SlicesAreViewsOfOneBufferMadeOnFirstUse) {
  const at::Tensor proj = torch::zeros({4, 2, 10});
  const auto buffer = c10::make_intrusive<SplitGradientBuffer>(proj, std::vector<int64_t>{3, 7});
  const at::Tensor a = buffer->slice(0), b = buffer->slice(1);
  EXPECT_EQ(a.sizes(), at::IntArrayRef({4, 2, 3}));
  EXPECT_EQ(b.sizes(), at::IntArrayRef({4, 2, 7}));
  EXPECT_EQ(b.data_ptr<float>() - a.data_ptr<float>(), 3);
  EXPECT_TRUE(buffer->is_slice(b, 1));
  EXPECT_FALSE(buffer->is_slice(b.clone(), 1));
  EXPECT_FALSE(buffer->is_slice(a, 1));
}

TEST(SplitGradient, RejectsPartSizesThatDoNotSumToTheWidth) {
  try {
    SplitGradientBuffer(torch::zeros({4, 2, 10}), {3, 6});
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("sum to 9, not the last dim of [4, 2, 10]"), std::string::npos) << e.what();
  }
}

TEST(SplitGradient, AConsumerRejectsAPartOfAnotherShape) {
  const at::Tensor proj = torch::randn({5, 2, 12});
  const auto buffer = c10::make_intrusive<SplitGradientBuffer>(proj, std::vector<int64_t>{4, 8});
  const std::vector<at::Tensor> parts = split_with_gradient_buffer(proj, buffer);
  const at::Tensor y = torch::randn({5, 8}), w = torch::ones({8});
  try {
    gated_rms_norm(y, parts[0], w, 2, 1e-5, at::kFloat, GradientInto{buffer, 1});  // part 1 is 8 wide, z 4
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("part 1 of [5, 2, 12] split [4, 8] does not match the input [5, 2, 4]"),
              std::string::npos)
        << e.what();
  }
  // The part's own values as [T, channels]: the right elements, not the part's [T, groups, width] shape.
  const at::Tensor x2 = parts[1].reshape({5, 16});
  try {
    causal_conv1d_silu(x2, torch::randn({16, 1, 4}), torch::zeros({16}), {0, 5}, at::kFloat, GradientInto{buffer, 1});
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("does not match the input [5, 16]"), std::string::npos) << e.what();
  }
}

TEST(GpuSplitGradient, TheKernelsWritingIntoTheBufferGiveWhatTheConcatenationGives) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "needs a CUDA build and a CUDA device";
  for (const SplitCase& c : kCases) {
    expect_same_gradients(c, at::Device(at::kCUDA, 0), at::kBFloat16);
    expect_same_gradients(c, at::Device(at::kCUDA, 0), at::kFloat);
  }
}

}  // namespace
}  // namespace hetero
