// The fused op's CPU loop (the CUDA kernels' per-element math, run through
// its autograd Function) against the ATen expression it replaces on
// CUDA: forward values and every input's gradient, on odd shapes, to fp32
// rounding. The CUDA kernels themselves: test_gpu_fast_paths.cpp.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "fused_references.h"
#include "model/chunk_scores.h"

namespace hetero {
namespace {

void expect_close(const at::Tensor& got, const at::Tensor& want, double rtol, const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  const at::Tensor a = got.detach().to(at::kDouble), b = want.detach().to(at::kDouble);
  const double scale = b.abs().max().item<double>(), err = (a - b).abs().max().item<double>();
  EXPECT_GT(scale, 0) << what << ": an all-zero reference checks nothing";
  EXPECT_LE(err, rtol * scale) << what << ": max error " << err << " vs scale " << scale;
}

// Gradients of sum(out * direction) with respect to `leaves`.
std::vector<at::Tensor> grads_of(const at::Tensor& out, const at::Tensor& direction,
                                 const std::vector<at::Tensor>& leaves) {
  return torch::autograd::grad({(out.to(at::kFloat) * direction).sum()}, leaves);
}

struct ChunkShape {
  int64_t b, c, g, hg, q;
};

TEST(FusedChunkScores, ForwardAndGradientsEqualTheAtenExpression) {
  const ChunkShape shapes[] = {{1, 1, 1, 1, 5}, {2, 3, 2, 3, 7}, {1, 2, 3, 1, 7}, {1, 1, 2, 3, 3}, {1, 2, 1, 2, 16}};
  for (const ChunkShape& s : shapes) {
    const std::string at_shape = "b=" + std::to_string(s.b) + " c=" + std::to_string(s.c) + " g=" +
                                 std::to_string(s.g) + " hg=" + std::to_string(s.hg) + " q=" + std::to_string(s.q);
    torch::manual_seed(s.q * 100 + s.hg * 10 + s.g);
    const ChunkScoreInputs in = chunk_score_inputs(s.b, s.c, s.g, s.hg, s.q);
    const at::Tensor fused = chunk_scores(in.cb, in.a_cum, in.dt, at::kFloat);
    const at::Tensor reference = chunk_scores_reference(in.cb, in.a_cum, in.dt);
    expect_close(fused, reference, 1e-5, "scores " + at_shape);
    const at::Tensor direction = torch::randn(reference.sizes());
    const std::vector<at::Tensor> leaves{in.cb, in.a_cum, in.dt};
    const auto got = grads_of(fused, direction, leaves), want = grads_of(reference, direction, leaves);
    const char* names[] = {"d CB", "d a_cum", "d dt"};
    for (size_t i = 0; i < got.size(); ++i) expect_close(got[i], want[i], 1e-5, names[i] + (" " + at_shape));
  }
}

// s > t lies outside the causal mask: the scores there are exactly zero and
// any gradient arriving there changes nothing.
TEST(FusedChunkScores, TheMaskedRegionContributesNothing) {
  torch::manual_seed(3);
  const int64_t q = 7;
  const ChunkScoreInputs in = chunk_score_inputs(1, 2, 2, 3, q);
  const at::Tensor scores = chunk_scores(in.cb, in.a_cum, in.dt, at::kFloat);
  const at::Tensor above = at::ones({q, q}, at::kBool).triu(1);  // s > t
  EXPECT_TRUE(at::equal(scores.masked_select(above), at::zeros({scores.numel() / (q * q) * (q * (q - 1) / 2)})));
  EXPECT_GT(scores.masked_select(above.logical_not()).abs().min().item<float>(), 0);
  const at::Tensor direction = torch::randn(scores.sizes());
  const std::vector<at::Tensor> leaves{in.cb, in.a_cum, in.dt};
  const auto full = grads_of(scores, direction, leaves);
  const auto causal_only =
      grads_of(chunk_scores(in.cb, in.a_cum, in.dt, at::kFloat), direction.masked_fill(above, 0), leaves);
  for (size_t i = 0; i < full.size(); ++i) EXPECT_TRUE(at::equal(full[i], causal_only[i])) << "gradient " << i;
  EXPECT_TRUE(at::equal(full[0].masked_select(above), at::zeros({full[0].numel() / (q * q) * (q * (q - 1) / 2)})))
      << "d CB above the diagonal";
}

TEST(FusedChunkScores, Bf16OutputIsTheRoundedFp32Scores) {
  torch::manual_seed(5);
  const ChunkScoreInputs in = chunk_score_inputs(1, 2, 2, 3, 5);
  const at::Tensor bf16 = chunk_scores(in.cb, in.a_cum, in.dt, at::kBFloat16);
  EXPECT_EQ(bf16.scalar_type(), at::kBFloat16);
  const at::Tensor fp32 = chunk_scores(in.cb, in.a_cum, in.dt, at::kFloat);
  EXPECT_TRUE(at::equal(bf16, fp32.to(at::kBFloat16)));
}

TEST(FusedChunkScores, RejectsMismatchedShapes) {
  const ChunkScoreInputs in = chunk_score_inputs(1, 2, 2, 3, 5);
  EXPECT_THROW(chunk_scores(in.cb, in.a_cum.narrow(-1, 0, 4), in.dt.narrow(-1, 0, 4), at::kFloat), c10::Error);
  EXPECT_THROW(chunk_scores(in.cb.to(at::kBFloat16), in.a_cum, in.dt, at::kFloat), c10::Error);
}

}  // namespace
}  // namespace hetero
