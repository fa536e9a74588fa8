// The chunked output layer + cross-entropy equals the reference (full
// logits, then vocab_parallel_cross_entropy, masked and summed) in the loss
// and in the gradients of the hidden states and the output weight, for
// chunk sizes that do and do not divide the token count, single process and
// over two tp ranks.
#include <gtest/gtest.h>

#include <torch/torch.h>

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

}  // namespace
}  // namespace hetero
