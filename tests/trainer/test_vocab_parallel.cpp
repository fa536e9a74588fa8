// The chunked output layer + cross-entropy equals the reference (full
// logits, then vocab_parallel_cross_entropy, masked and summed) in the loss
// and in the gradients of the hidden states and the output weight, for
// chunk sizes that do and do not divide the token count, single process and
// over two tp ranks; and the fused CUDA kernels' per-row math
// (kernels/cross_entropy.h) against ATen on the CPU.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "kernels/cross_entropy.h"
#include "layer_checks.h"
#include "model/tp_ops.h"
#include "model/vocab_parallel.h"
#include "ranks.h"

namespace hetero {
namespace {

constexpr int64_t kTokens = 37, kHidden = 8, kVocab = 24;

struct Problem {
  at::Tensor hidden, weight, labels, mask;
};

Problem problem() {
  torch::manual_seed(5);
  Problem p;
  p.hidden = torch::randn({kTokens, kHidden});
  p.weight = torch::randn({kVocab, kHidden});
  p.labels = torch::randint(0, kVocab, {kTokens}, at::kLong);
  p.mask = (torch::rand({kTokens}) > 0.3).to(at::kFloat);
  return p;
}

// Loss, d hidden, d weight for loss * 0.7 (a non-unit incoming gradient).
std::vector<at::Tensor> loss_and_grads(const Problem& p, int64_t chunk) {
  const Group one = test::single_group();
  const at::Tensor h = p.hidden.clone().set_requires_grad(true), w = p.weight.clone().set_requires_grad(true);
  const at::Tensor loss =
      chunk > 0 ? vocab_parallel_cross_entropy_sum(h, w, p.labels, p.mask, one, chunk)
                : (vocab_parallel_cross_entropy(at::matmul(h, w.t()), p.labels, one) * p.mask).sum();
  (loss * 0.7).backward();
  return {loss.detach(), h.grad(), w.grad()};
}

TEST(VocabParallel, ChunkedCrossEntropyEqualsFullLogits) {
  const Problem p = problem();
  const auto reference = loss_and_grads(p, 0);
  for (int64_t chunk : {1, 5, 16, 37, 100}) {
    const auto chunked = loss_and_grads(p, chunk);
    const std::string c = " (chunk " + std::to_string(chunk) + ")";
    test::expect_close(chunked[0], reference[0], 1e-6, "loss" + c);
    test::expect_close(chunked[1], reference[1], 1e-6, "d hidden" + c);
    test::expect_close(chunked[2], reference[2], 1e-6, "d weight" + c);
  }
}

TEST(VocabParallel, ChunkedCrossEntropyWithoutGradientsGivesTheLoss) {
  const Problem p = problem();
  at::NoGradGuard no_grad;
  const at::Tensor loss = vocab_parallel_cross_entropy_sum(p.hidden, p.weight, p.labels, p.mask, test::single_group(), 7);
  const at::Tensor want =
      (vocab_parallel_cross_entropy(at::matmul(p.hidden, p.weight.t()), p.labels, test::single_group()) * p.mask).sum();
  test::expect_close(loss, want, 1e-6, "loss");
}

TEST(VocabParallel, ChunkedCrossEntropyOverTwoTpRanks) {
  const Problem p = problem();
  test::expect_tp2_matches_single("chunked_ce", 11, p.hidden, torch::ones({1}) * 0.7,
                                  [&](ParamSet& ps, const Group& tp, const at::Tensor& x) {
                                    const at::Tensor w = ps.add("llm.lm_head.weight", {kVocab, kHidden}, 0, Init::Normal, 1.0);
                                    return vocab_parallel_cross_entropy_sum(enter_tp_region(x, tp), w, p.labels,
                                                                            p.mask, tp, 5)
                                        .reshape({1});
                                  });
}

// The embedding whose backward adds into weight.grad itself (the CUDA path)
// against autograd's: the same rows, and over two microbatches, with tokens
// repeated within each, the same accumulated gradient; the input-side
// gradient is the same too (rows scaled, so each microbatch's differs).
TEST(VocabParallel, EmbeddingGradIntoTheWeightEqualsAutograd) {
  torch::manual_seed(3);
  const at::Tensor w0 = torch::randn({kVocab, kHidden});
  const std::vector<at::Tensor> tokens{torch::tensor(std::vector<int64_t>{3, 1, 3, 0, kVocab - 1, 3}),
                                       torch::tensor(std::vector<int64_t>{1, 1, 2, 5, 5, 0})};
  auto run = [&](bool grad_into_weight) {
    const at::Tensor w = w0.clone().set_requires_grad(true);
    std::vector<at::Tensor> rows;
    for (size_t i = 0; i < tokens.size(); ++i) {
      const at::Tensor r = vocab_parallel_embedding(tokens[i], w, test::single_group(), grad_into_weight);
      rows.push_back(r.detach());
      (r * torch::randn_like(r) * (1.0 + double(i))).sum().backward();
    }
    return std::make_pair(rows, w.grad());
  };
  torch::manual_seed(4);
  const auto [rows_autograd, grad_autograd] = run(false);
  torch::manual_seed(4);
  const auto [rows_into, grad_into] = run(true);
  for (size_t i = 0; i < tokens.size(); ++i) EXPECT_TRUE(rows_into[i].equal(rows_autograd[i])) << "rows " << i;
  test::expect_close(grad_into, grad_autograd, 1e-6, "embedding weight gradient");
  EXPECT_GT(grad_into.abs().sum(1).gt(0).sum().item<int64_t>(), 0);
  EXPECT_EQ(grad_into[4].abs().sum().item<double>(), 0.0) << "row 4 is never used";
}

// The kernels' online softmax as they run it, on the CPU: each of `threads`
// strided slices of a row adds `pack` values at a time, the slices then
// combine pairwise as a butterfly and in order; against ATen's max and sum of
// exp(x - max), on odd rows (fewer values than threads, a partial last pack).
TEST(VocabParallel, OnlineSoftmaxStatsMatchAten) {
  torch::manual_seed(8);
  for (const int64_t cols : {1, 3, 37, 1001}) {
    const at::Tensor x = torch::randn({5, cols}) * 6;
    const at::Tensor want_max = std::get<0>(x.max(-1));
    const at::Tensor want_sum = at::exp(x - want_max.unsqueeze(-1)).sum(-1);
    at::Tensor got_max = at::empty({5}), got_sum = at::empty({5});
    const int threads = 8, pack = 3;
    for (int64_t r = 0; r < 5; ++r) {
      const float* row = x[r].contiguous().data_ptr<float>();
      std::vector<SoftmaxStats> slices(threads, SoftmaxStats{-INFINITY, 0.0f});
      for (int64_t p = 0; p * pack < cols; ++p) {
        const int count = static_cast<int>(std::min<int64_t>(pack, cols - p * pack));
        slices[p % threads] = softmax_stats_add(slices[p % threads], row + p * pack, count);
      }
      for (int offset = threads / 2; offset > 0; offset /= 2) {
        for (int t = 0; t < offset; ++t) slices[t] = softmax_stats_combine(slices[t], slices[t + offset]);
      }
      got_max[r] = slices[0].max;
      got_sum[r] = slices[0].sum;
    }
    const std::string c = " (cols " + std::to_string(cols) + ")";
    EXPECT_TRUE(at::equal(got_max, want_max)) << "max" << c;
    test::expect_close(got_sum, want_sum, 1e-5, "sum of exp" + c);
  }
  // A slice that saw nothing (-inf, 0) leaves the other unchanged.
  const SoftmaxStats none{-INFINITY, 0.0f}, some{2.0f, 3.0f};
  EXPECT_EQ(softmax_stats_combine(none, none).sum, 0.0f);
  EXPECT_EQ(softmax_stats_combine(none, some).max, 2.0f);
  EXPECT_EQ(softmax_stats_combine(some, none).sum, 3.0f);
}

// The gradient kernel's per-logit math against ATen's softmax: m softmax - m one-hot.
TEST(VocabParallel, CrossEntropyLogitGradMatchesAten) {
  torch::manual_seed(9);
  const int64_t rows = 6, cols = 29;
  const at::Tensor x = torch::randn({rows, cols}) * 4;
  const at::Tensor labels = torch::randint(0, cols, {rows}, at::kLong);
  const at::Tensor m = torch::tensor({1.0f, 0.0f, 1.0f, 0.5f, 1.0f, 1.0f});
  const at::Tensor want = at::softmax(x, -1) * m.unsqueeze(-1) -
                          at::one_hot(labels, cols).to(at::kFloat) * m.unsqueeze(-1);
  const at::Tensor max = std::get<0>(x.max(-1)), sum = at::exp(x - max.unsqueeze(-1)).sum(-1);
  at::Tensor got = at::empty_like(x);
  for (int64_t r = 0; r < rows; ++r) {
    const float scale = m[r].item<float>() / sum[r].item<float>();
    for (int64_t c = 0; c < cols; ++c) {
      const float label_m = c == labels[r].item<int64_t>() ? m[r].item<float>() : 0.0f;
      got[r][c] = cross_entropy_logit_grad(x[r][c].item<float>(), max[r].item<float>(), scale, label_m);
    }
  }
  test::expect_close(got, want, 1e-6, "d logits");
}

}  // namespace
}  // namespace hetero
