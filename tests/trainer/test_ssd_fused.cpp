// The fused ops' CPU loops (the CUDA kernels' per-element math, run through
// their autograd Functions) against the ATen expressions they replace on
// CUDA: forward values and every input's gradient, on odd shapes, to fp32
// rounding. The CUDA kernels themselves: test_gpu_fast_paths.cpp.
#include <limits>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include "fused_references.h"
#include "model/chunk_scores.h"
#include "model/gated_rms_norm.h"
#include "model/ssd_output.h"
#include "model/ssd_scan.h"
#include "model/ssd_state_input.h"
#include "model/ssd_state_passing.h"
#include "model/transformer_block.h"

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

struct NormShape {
  int64_t tokens, groups, n;
};

// z as the mixer passes it: a narrow of the projection, [T, groups, n] with
// strides (groups * row, row, 1), or the same as a strided 2-D [T, groups * n].
at::Tensor strided_gate(int64_t tokens, int64_t groups, int64_t n, bool three_d, at::ScalarType dtype) {
  const at::Tensor proj = torch::randn({tokens, groups, n + 3}).to(dtype);
  if (three_d) return proj.narrow(2, 1, n);
  return torch::randn({tokens, groups * n + 5}).to(dtype).narrow(1, 2, groups * n);
}

TEST(FusedGatedRmsNorm, ForwardAndGradientsEqualTheAtenExpression) {
  const NormShape shapes[] = {{5, 1, 8}, {7, 2, 8}, {3, 2, 5}, {1, 3, 4}, {9, 2, 33}};
  const double eps = 1e-5;
  for (const NormShape& s : shapes) {
    for (const bool three_d : {false, true}) {
      const std::string at_shape = "T=" + std::to_string(s.tokens) + " groups=" + std::to_string(s.groups) +
                                   " n=" + std::to_string(s.n) + (three_d ? " z 3-D" : " z 2-D");
      torch::manual_seed(s.tokens * 100 + s.n);
      const at::Tensor y = torch::randn({s.tokens, s.groups * s.n}).set_requires_grad(true);
      const at::Tensor z_leaf = strided_gate(s.tokens, s.groups, s.n, three_d, at::kFloat).set_requires_grad(true);
      ASSERT_NE(z_leaf.stride(0), s.groups * s.n) << "the gate must be strided";
      const at::Tensor w = (torch::rand({s.groups * s.n}) + 0.5).set_requires_grad(true);
      const at::Tensor fused = gated_rms_norm(y, z_leaf, w, s.groups, eps, at::kFloat);
      const at::Tensor reference = gated_rms_norm_reference(y, z_leaf, w, s.groups, eps);
      expect_close(fused, reference, 1e-5, "out " + at_shape);
      const at::Tensor direction = torch::randn(reference.sizes());
      const std::vector<at::Tensor> leaves{y, z_leaf, w};
      const auto got = grads_of(fused, direction, leaves), want = grads_of(reference, direction, leaves);
      const char* names[] = {"dy", "dz", "dw"};
      for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].sizes(), leaves[i].sizes()) << names[i];
        expect_close(got[i], want[i], 1e-5, names[i] + (" " + at_shape));
      }
    }
  }
}

// The mixer's dtypes: a bf16 gate and bf16 output. The fused op reads the
// same bf16 values and computes in fp32, so it equals the fp32 expression on
// those values up to the final rounding.
TEST(FusedGatedRmsNorm, Bf16GateAndOutputMatchTheAtenExpression) {
  torch::manual_seed(11);
  const int64_t tokens = 7, groups = 2, n = 8;
  const at::Tensor y = torch::randn({tokens, groups * n}).set_requires_grad(true);
  const at::Tensor z = strided_gate(tokens, groups, n, true, at::kBFloat16).set_requires_grad(true);
  const at::Tensor w = (torch::rand({groups * n}) + 0.5).set_requires_grad(true);
  const at::Tensor fused = gated_rms_norm(y, z, w, groups, 1e-5, at::kBFloat16);
  EXPECT_EQ(fused.scalar_type(), at::kBFloat16);
  // Rounded like the fused output, so that both backwards get the same bf16 gradient.
  const at::Tensor reference = gated_rms_norm_reference(y, z, w, groups, 1e-5).to(at::kBFloat16);
  EXPECT_TRUE(at::equal(fused, reference));
  const at::Tensor direction = torch::randn(reference.sizes());
  const auto got = grads_of(fused, direction, {y, z, w}), want = grads_of(reference, direction, {y, z, w});
  EXPECT_EQ(got[1].scalar_type(), at::kBFloat16);
  expect_close(got[0], want[0], 1e-5, "dy");
  expect_close(got[1].to(at::kFloat), want[1].to(at::kFloat), 1e-2, "dz (bf16)");
  expect_close(got[2], want[2], 1e-5, "dw");
}

TEST(FusedGatedRmsNorm, RejectsAGateWithoutAContiguousLastDim) {
  const at::Tensor y = torch::randn({3, 8}), w = torch::ones({8});
  const at::Tensor z = torch::randn({8, 3}).t();
  EXPECT_THROW(gated_rms_norm(y, z, w, 2, 1e-5, at::kFloat), c10::Error);
  EXPECT_THROW(gated_rms_norm(y, torch::randn({3, 2, 4}), w, 4, 1e-5, at::kFloat), c10::Error);
}

// Without a gate the op is the LLM's plain RMSNorm: the CPU twin loop (the
// kernels' arithmetic) against rms_norm's ATen expression, the reference
// path of the LLM layers, on [B, S, H] residual streams.
TEST(FusedRmsNorm, ForwardAndGradientsEqualTheAtenRmsNorm) {
  const std::vector<int64_t> shapes[] = {{1, 5, 8}, {2, 3, 33}, {1, 1, 3}, {3, 7, 64}};
  for (const auto& shape : shapes) {
    const std::string at_shape = "at [" + std::to_string(shape[0]) + ", " + std::to_string(shape[1]) + ", " +
                                 std::to_string(shape[2]) + "]";
    torch::manual_seed(shape[1] * 100 + shape[2]);
    const at::Tensor x = (torch::randn(shape) * 3).set_requires_grad(true);
    const at::Tensor w = (torch::rand({shape[2]}) + 0.5).set_requires_grad(true);
    const at::Tensor fused = rms_norm_fused(x, w, 1e-5, at::kFloat);
    const at::Tensor reference = rms_norm(x, w, 1e-5);
    ASSERT_EQ(fused.sizes(), x.sizes());
    expect_close(fused, reference, 1e-5, "out " + at_shape);
    const at::Tensor direction = torch::randn(shape);
    const auto got = grads_of(fused, direction, {x, w}), want = grads_of(reference, direction, {x, w});
    expect_close(got[0], want[0], 1e-5, "dx " + at_shape);
    expect_close(got[1], want[1], 1e-5, "dw " + at_shape);
  }
}

// Into bf16 (the compute dtype of the matmul after the norm): the fp32
// result rounded once, and gradients taken from the bf16 output's gradient.
TEST(FusedRmsNorm, Bf16OutputIsTheFp32NormRounded) {
  torch::manual_seed(5);
  const at::Tensor x = torch::randn({2, 9, 24}).set_requires_grad(true);
  const at::Tensor w = (torch::rand({24}) + 0.5).set_requires_grad(true);
  const at::Tensor fused = rms_norm_fused(x, w, 1e-5, at::kBFloat16);
  EXPECT_EQ(fused.scalar_type(), at::kBFloat16);
  const at::Tensor reference = rms_norm(x, w, 1e-5).to(at::kBFloat16);
  EXPECT_TRUE(at::equal(fused, reference));
  const at::Tensor direction = torch::randn(x.sizes());
  const auto got = grads_of(fused, direction, {x, w}), want = grads_of(reference, direction, {x, w});
  EXPECT_EQ(got[0].scalar_type(), at::kFloat);
  expect_close(got[0], want[0], 1e-5, "dx");
  expect_close(got[1], want[1], 1e-5, "dw");
}

TEST(FusedRmsNorm, RejectsAWeightOfAnotherWidth) {
  EXPECT_THROW(rms_norm_fused(torch::randn({3, 8}), torch::ones({7}), 1e-5, at::kFloat), c10::Error);
  EXPECT_THROW(rms_norm_fused(torch::randn({3, 8}).to(at::kBFloat16), torch::ones({8}), 1e-5, at::kFloat),
               c10::Error);
}

TEST(FusedSsdOutput, ForwardAndGradientsEqualTheAtenExpression) {
  struct Shape {
    int64_t b, c, g, hg, q, p, l;
  };
  // l < c * q: the padded tail of the last chunk gets no gradient.
  const Shape shapes[] = {{1, 1, 1, 1, 4, 3, 4}, {2, 3, 2, 3, 4, 5, 10}, {1, 2, 3, 1, 8, 33, 16}, {1, 4, 1, 2, 2, 7, 5}};
  for (const Shape& s : shapes) {
    for (const bool with_d : {true, false}) {
      const std::string at_shape = "b=" + std::to_string(s.b) + " c=" + std::to_string(s.c) + " g=" +
                                   std::to_string(s.g) + " hg=" + std::to_string(s.hg) + " q=" + std::to_string(s.q) +
                                   " p=" + std::to_string(s.p) + " l=" + std::to_string(s.l) +
                                   (with_d ? " with D" : " without D");
      torch::manual_seed(s.l * 10 + s.p);
      const SsdOutputInputs in = ssd_output_inputs(s.b, s.c, s.g, s.hg, s.q, s.p, s.l, with_d);
      // Without D, x does not enter y.
      std::vector<at::Tensor> leaves{in.y_intra, in.y_inter, in.a_cum};
      if (with_d) leaves.insert(leaves.end(), {in.x, in.D});
      const at::Tensor want = ssd_chunk_output_reference(in.y_intra, in.y_inter, in.a_cum, in.x, in.D);
      const at::Tensor got = ssd_chunk_output(in.y_intra, in.y_inter, in.a_cum, in.x, in.D);
      expect_close(got, want, 1e-5, "y " + at_shape);
      const at::Tensor direction = torch::randn(want.sizes());
      const auto want_grads = grads_of(want, direction, leaves), got_grads = grads_of(got, direction, leaves);
      const char* names[] = {"d_y_intra", "d_y_inter", "d_a_cum", "dx", "dD"};
      for (size_t i = 0; i < leaves.size(); ++i)
        expect_close(got_grads[i], want_grads[i], 1e-5, std::string(names[i]) + " " + at_shape);
    }
  }
}

TEST(FusedSsdOutput, StridedSkipInputAndBf16Operands) {
  torch::manual_seed(9);
  const int64_t b = 1, c = 2, g = 2, hg = 2, q = 4, p = 8, l = 7;
  const SsdOutputInputs in = ssd_output_inputs(b, c, g, hg, q, p, l, true);
  // x as the mixer hands it over: a narrow of wider rows (channels contiguous, other strides not).
  const at::Tensor wide = torch::randn({b, l, g * hg, p + 3}).to(at::kBFloat16);
  const at::Tensor x = wide.narrow(3, 1, p).detach().set_requires_grad(true);
  const at::Tensor yi = in.y_intra.detach().to(at::kBFloat16).set_requires_grad(true);
  const at::Tensor yr = in.y_inter.detach().to(at::kBFloat16).set_requires_grad(true);
  const at::Tensor want = ssd_chunk_output_reference(yi, yr, in.a_cum, x, in.D);
  const at::Tensor got = ssd_chunk_output(yi, yr, in.a_cum, x, in.D);
  ASSERT_EQ(got.scalar_type(), at::kFloat);
  expect_close(got, want, 1e-5, "y from bf16 operands");
  const at::Tensor direction = torch::randn(want.sizes());
  const std::vector<at::Tensor> leaves{yi, yr, in.a_cum, x, in.D};
  const auto want_grads = grads_of(want, direction, leaves), got_grads = grads_of(got, direction, leaves);
  EXPECT_EQ(got_grads[3].scalar_type(), at::kBFloat16);
  // Gradients in bf16 are rounded once from fp32: within bf16's relative precision.
  for (size_t i = 0; i < leaves.size(); ++i) expect_close(got_grads[i], want_grads[i], 1e-2, "gradient " + std::to_string(i));
}

TEST(FusedSsdOutput, RejectsMismatchedShapes) {
  const SsdOutputInputs in = ssd_output_inputs(1, 2, 1, 2, 4, 3, 8, true);
  EXPECT_THROW(ssd_chunk_output(in.y_intra, in.y_inter, in.a_cum, torch::randn({1, 9, 2, 3}), in.D), c10::Error);
  EXPECT_THROW(ssd_chunk_output(in.y_intra, in.y_inter, in.a_cum, in.x, torch::ones({3})), c10::Error);
}

TEST(FusedSsdStateInput, ForwardAndGradientsEqualTheAtenExpression) {
  struct Shape {
    int64_t b, c, g, hg, q, p, l;
  };
  const Shape shapes[] = {{1, 1, 1, 1, 4, 3, 4}, {2, 3, 2, 3, 4, 5, 10}, {1, 2, 3, 1, 8, 33, 16}, {1, 4, 1, 2, 2, 7, 5}};
  for (const Shape& s : shapes) {
    const std::string at_shape = "c=" + std::to_string(s.c) + " g=" + std::to_string(s.g) + " hg=" +
                                 std::to_string(s.hg) + " q=" + std::to_string(s.q) + " p=" + std::to_string(s.p) +
                                 " l=" + std::to_string(s.l);
    torch::manual_seed(s.l * 7 + s.p);
    // x as the mixer hands it over: a narrow of wider rows.
    const at::Tensor x = torch::randn({s.b, s.l, s.g * s.hg, s.p + 2}).narrow(3, 1, s.p).detach().set_requires_grad(true);
    const at::Tensor to_end = torch::rand({s.b, s.c, s.g, s.hg, s.q}).set_requires_grad(true);
    const at::Tensor want = ssd_state_input_reference(x, to_end), got = ssd_state_input(x, to_end);
    expect_close(got, want, 1e-6, "weighted " + at_shape);
    const at::Tensor direction = torch::randn(want.sizes());
    const auto want_grads = grads_of(want, direction, {x, to_end}), got_grads = grads_of(got, direction, {x, to_end});
    expect_close(got_grads[0], want_grads[0], 1e-5, "dx " + at_shape);
    expect_close(got_grads[1], want_grads[1], 1e-5, "d_to_end " + at_shape);
  }
}

TEST(FusedSsdStateInput, Bf16IsTheRoundedFp32Product) {
  torch::manual_seed(12);
  const at::Tensor x = torch::randn({1, 6, 4, 8}).to(at::kBFloat16), to_end = torch::rand({1, 2, 2, 2, 4});
  const at::Tensor got = ssd_state_input(x, to_end);
  ASSERT_EQ(got.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::equal(got, ssd_state_input_reference(x, to_end)));
  EXPECT_THROW(ssd_state_input(x, torch::rand({1, 1, 2, 2, 4})), c10::Error);  // 6 steps in one chunk of 4
}

// x chunked as the mixer hands it to the scan's ops (model/ssd_x.h): [b, c,
// q, h, p] stored as [b, c, h, q, p], from the mixer's strided [b, l, g,
// hg * p] rows; the same x by step, [b, c * q, h, p], contiguous.
struct ChunkedX {
  at::Tensor chunked, by_step;
};

ChunkedX chunked_x(int64_t b, int64_t c, int64_t g, int64_t hg, int64_t q, int64_t p) {
  const at::Tensor rows = torch::randn({b, c * q, g, hg * p + 5}).narrow(3, 2, hg * p);
  ChunkedX x;
  x.chunked = ssd_chunked_x(rows, p, q).detach().set_requires_grad(true);
  x.by_step = x.chunked.detach().reshape({b, c * q, g * hg, p}).set_requires_grad(true);
  return x;
}

TEST(FusedSsdOutput, ChunkedXGivesWhatTheSameXByStepGives) {
  torch::manual_seed(31);
  const int64_t b = 2, c = 3, g = 2, hg = 3, q = 4, p = 5;
  const SsdOutputInputs in = ssd_output_inputs(b, c, g, hg, q, p, c * q, true);
  const ChunkedX x = chunked_x(b, c, g, hg, q, p);
  ASSERT_EQ(x.chunked.sizes(), at::IntArrayRef({b, c, q, g * hg, p}));
  EXPECT_NE(x.chunked.stride(2), g * hg * p) << "the steps of a chunk are not next to each other";
  const at::Tensor want = ssd_chunk_output(in.y_intra, in.y_inter, in.a_cum, x.by_step, in.D);
  const at::Tensor got = ssd_chunk_output(in.y_intra, in.y_inter, in.a_cum, x.chunked, in.D);
  EXPECT_TRUE(at::equal(got, want));
  const at::Tensor direction = torch::randn(want.sizes());
  const at::Tensor dx_want = grads_of(want, direction, {x.by_step})[0], dx = grads_of(got, direction, {x.chunked})[0];
  EXPECT_EQ(dx.strides(), x.chunked.strides()) << "x's gradient in x's layout";
  EXPECT_TRUE(at::equal(dx.reshape(dx_want.sizes()), dx_want));
  EXPECT_THROW(ssd_chunk_output(in.y_intra, in.y_inter, in.a_cum, x.chunked.reshape({b, c * q / 2, 2, g * hg, p}), in.D),
               c10::Error);  // chunks of 2 where a_cum has chunks of 4
}

TEST(FusedSsdStateInput, ChunkedXGivesWhatTheSameXByStepGives) {
  torch::manual_seed(32);
  const int64_t b = 1, c = 3, g = 3, hg = 2, q = 4, p = 7;
  const ChunkedX x = chunked_x(b, c, g, hg, q, p);
  const at::Tensor to_end = torch::rand({b, c, g, hg, q}).set_requires_grad(true);
  const at::Tensor want = ssd_state_input(x.by_step, to_end), got = ssd_state_input(x.chunked, to_end);
  EXPECT_TRUE(at::equal(got, want));
  const at::Tensor direction = torch::randn(want.sizes());
  const auto want_grads = grads_of(want, direction, {x.by_step, to_end});
  const auto got_grads = grads_of(got, direction, {x.chunked, to_end});
  EXPECT_EQ(got_grads[0].strides(), x.chunked.strides()) << "x's gradient in x's layout";
  EXPECT_TRUE(at::equal(got_grads[0].reshape(want_grads[0].sizes()), want_grads[0]));
  EXPECT_TRUE(at::equal(got_grads[1], want_grads[1]));
  EXPECT_THROW(ssd_state_input(x.chunked, torch::rand({b, c * 2, g, hg, q / 2})), c10::Error);  // other chunks
}

TEST(FusedSsdStatePassing, ForwardAndGradientsEqualTheAtenExpression) {
  struct Shape {
    int64_t b, c, g, m, hg, w;
  };
  // One chunk (nothing enters it), two, and more chunks over widths below and
  // above a warp, one head after another ({g, 1, 1, w}) and a group's heads
  // side by side in rows ({g, m, hg, w}, the grouped scan's layout).
  const Shape shapes[] = {{1, 1, 1, 1, 1, 3}, {1, 2, 2, 1, 1, 5}, {2, 5, 3, 1, 1, 37},
                          {1, 9, 2, 1, 1, 70}, {1, 4, 2, 3, 2, 5},  {2, 3, 1, 2, 4, 33}};
  for (const Shape& s : shapes) {
    const std::string at_shape = "b=" + std::to_string(s.b) + " c=" + std::to_string(s.c) + " g=" +
                                 std::to_string(s.g) + " m=" + std::to_string(s.m) + " hg=" + std::to_string(s.hg) +
                                 " w=" + std::to_string(s.w);
    torch::manual_seed(s.c * 10 + s.w);
    const at::Tensor own = torch::randn({s.b, s.c, s.g, s.m, s.hg, s.w}).set_requires_grad(true);
    // Log-decays of whole chunks: negative, some near 0 (the state carries), some far below.
    const at::Tensor chunk_log = (-3 * torch::rand({s.b, s.c, s.g, s.hg})).set_requires_grad(true);
    const at::Tensor want = ssd_state_passing_reference(own, chunk_log), got = ssd_state_passing(own, chunk_log);
    EXPECT_TRUE(at::equal(got.narrow(1, 0, 1), torch::zeros_like(own.narrow(1, 0, 1))))
        << "the first chunk starts from 0";
    if (s.c == 1) continue;
    expect_close(got, want, 1e-6, "entering " + at_shape);
    const at::Tensor direction = torch::randn(want.sizes());
    const auto want_grads = grads_of(want, direction, {own, chunk_log});
    const auto got_grads = grads_of(got, direction, {own, chunk_log});
    expect_close(got_grads[0], want_grads[0], 1e-5, "d own " + at_shape);
    if (s.c == 2)  // the second chunk enters with own_0 alone: no decay acts on anything
      EXPECT_TRUE(at::equal(got_grads[1], torch::zeros_like(chunk_log))) << at_shape;
    else
      expect_close(got_grads[1], want_grads[1], 1e-5, "d chunk_log " + at_shape);
  }
}

// Each head's recurrence uses its own decay: with one head's decay 0 (exp = 1)
// and the other's -inf (exp = 0), the first carries the running sum of its
// own, the second only the last chunk's.
TEST(FusedSsdStatePassing, EachHeadOfAGroupDecaysByItsOwnLog) {
  const at::Tensor own = torch::randn({1, 4, 1, 3, 2, 5});
  at::Tensor chunk_log = torch::zeros({1, 4, 1, 2});
  chunk_log.select(3, 1).fill_(-std::numeric_limits<float>::infinity());
  const at::Tensor got = ssd_state_passing(own, chunk_log);
  const at::Tensor head0 = own.select(4, 0), head1 = own.select(4, 1);
  for (int64_t k = 1; k < 4; ++k) {
    expect_close(got.select(1, k).select(3, 0), head0.narrow(1, 0, k).sum(1), 1e-6,
                 "head 0 at chunk " + std::to_string(k));
    EXPECT_TRUE(at::equal(got.select(1, k).select(3, 1), head1.select(1, k - 1))) << "head 1 at chunk " << k;
  }
}

TEST(FusedSsdStatePassing, Bf16StatesAreRoundedOnceFromFp32) {
  torch::manual_seed(5);
  const at::Tensor own = torch::randn({1, 6, 2, 3, 2, 9}).to(at::kBFloat16), chunk_log = -torch::rand({1, 6, 2, 2});
  const at::Tensor got = ssd_state_passing(own, chunk_log);
  ASSERT_EQ(got.scalar_type(), at::kBFloat16);
  // A bf16 own converts exactly; the recurrence runs in fp32 and rounds once at the end.
  EXPECT_TRUE(at::equal(got, ssd_state_passing(own.to(at::kFloat), chunk_log).to(at::kBFloat16)));
  EXPECT_THROW(ssd_state_passing(own, -torch::rand({1, 5, 2, 2})), c10::Error);                     // chunks differ
  EXPECT_THROW(ssd_state_passing(own, -torch::rand({1, 6, 2, 3})), c10::Error);                     // heads differ
  EXPECT_THROW(ssd_state_passing(own, -torch::rand({1, 6, 2, 2}).to(at::kBFloat16)), c10::Error);  // log not fp32
  EXPECT_THROW(ssd_state_passing(own.view({1, 6, 12, 9}), -torch::rand({1, 6, 12})), c10::Error);  // not 6-D
}

}  // namespace
}  // namespace hetero
