// GQA attention over packed samples against explicit per-sample softmax
// attention written with loops over heads, in values and gradients; tp=2
// over real Gloo equals one process.
#include <gtest/gtest.h>

#include <cmath>

#include <torch/torch.h>

#include "layer_checks.h"
#include "model/attention.h"
#include "ranks.h"

namespace hetero {
namespace {

constexpr uint64_t kSeed = 21;

AttentionConfig config() {
  AttentionConfig c;
  c.hidden = 12;
  c.heads = 4;
  c.kv_heads = 2;  // two query heads per kv head
  c.head_dim = 5;  // heads * head_dim != hidden, as Nemotron-H allows
  return c;
}

// weights: q, k, v, o in ParamSet order. One sample at a time, one head at a
// time: softmax(q k^T / sqrt(d) + causal mask) v, kv head = head / (H / KV).
at::Tensor reference(const at::Tensor& x, const std::vector<at::Tensor>& w, const AttentionConfig& c,
                     const std::vector<int64_t>& cu) {
  const int64_t d = c.head_dim, per_kv = c.heads / c.kv_heads;
  std::vector<at::Tensor> samples;
  for (size_t s = 0; s + 1 < cu.size(); ++s) {
    const int64_t L = cu[s + 1] - cu[s];
    const at::Tensor xs = x.narrow(0, cu[s], L);
    const at::Tensor q = at::matmul(xs, w[0].t()), k = at::matmul(xs, w[1].t()), v = at::matmul(xs, w[2].t());
    std::vector<at::Tensor> heads;
    for (int64_t h = 0; h < c.heads; ++h) {
      const int64_t g = h / per_kv;
      const at::Tensor qh = q.narrow(1, h * d, d), kh = k.narrow(1, g * d, d), vh = v.narrow(1, g * d, d);
      const at::Tensor mask = torch::ones({L, L}).tril().log();  // 0 on and below the diagonal, -inf above
      heads.push_back(at::matmul(at::softmax(at::matmul(qh, kh.t()) / std::sqrt(double(d)) + mask, -1), vh));
    }
    samples.push_back(at::matmul(at::cat(heads, 1), w[3].t()));
  }
  return at::cat(samples);
}

TEST(Attention, GqaOverPackedSamplesMatchesPerSampleSoftmax) {
  const AttentionConfig c = config();
  const Group one = test::single_group();
  ParamSet ps(kSeed, 0, 1, at::kCPU);
  Attention attn(ps, "backbone.layers.2.mixer", c, one, at::kFloat);
  test::randomize(ps, 0, 1, 300);
  std::vector<at::Tensor> leaves;
  for (const auto& p : ps.params()) leaves.push_back(p.value.detach().clone().set_requires_grad(true));
  EXPECT_EQ(ps.params()[0].name, "backbone.layers.2.mixer.q_proj.weight");

  torch::manual_seed(2);
  const std::vector<int64_t> cu{0, 5, 6, 14};
  const at::Tensor x = torch::randn({14, c.hidden}).set_requires_grad(true);
  const at::Tensor x_ref = x.detach().clone().set_requires_grad(true);
  const at::Tensor direction = torch::randn({14, c.hidden});
  const at::Tensor y = attn.forward(x, cu);
  const at::Tensor want = reference(x_ref, leaves, c, cu);
  test::expect_close(y, want, 1e-5, "output");
  (y * direction).sum().backward();
  (want * direction).sum().backward();
  test::expect_close(x.grad(), x_ref.grad(), 1e-5, "dx");
  for (size_t i = 0; i < leaves.size(); ++i)
    test::expect_close(ps.params()[i].value.grad(), leaves[i].grad(), 1e-5, "grad of " + ps.params()[i].name);
}

TEST(Attention, NoAttentionAcrossSamples) {
  const AttentionConfig c = config();
  const Group one = test::single_group();
  ParamSet ps(kSeed, 0, 1, at::kCPU);
  Attention attn(ps, "a", c, one, at::kFloat);
  test::randomize(ps, 0, 1, 301);
  torch::manual_seed(3);
  const at::Tensor a = torch::randn({4, c.hidden}), b = torch::randn({7, c.hidden});
  const at::Tensor packed = attn.forward(at::cat({a, b}), {0, 4, 11});
  test::expect_close(packed.narrow(0, 4, 7), attn.forward(b, {0, 7}), 1e-6, "second sample");
  const at::Tensor joined = attn.forward(at::cat({a, b}), {0, 11});
  EXPECT_GT((joined.narrow(0, 4, 7) - packed.narrow(0, 4, 7)).abs().max().item<double>(), 1e-3);
}

TEST(AttentionRanks, TensorParallel2MatchesSingleProcess) {
  const AttentionConfig c = config();
  torch::manual_seed(9);
  const std::vector<int64_t> cu{0, 6, 13};
  const at::Tensor x = torch::randn({13, c.hidden}), direction = torch::randn({13, c.hidden});
  test::expect_tp2_matches_single("attention", kSeed, x, direction,
                                  [&](ParamSet& ps, const Group& tp, const at::Tensor& in) {
                                    Attention attn(ps, "backbone.layers.2.mixer", c, tp, at::kFloat);
                                    test::randomize(ps, tp.rank, tp.size(), 302);
                                    return attn.forward(in, cu);
                                  });
}

}  // namespace
}  // namespace hetero
