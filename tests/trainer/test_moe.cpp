// The MoE layer against a dense loop over experts (every token through its
// top-k experts, weighted), in values and gradients, for sigmoid and softmax
// routing, with and without shared experts; the load-balancing loss against
// its formula written as loops; and EP=2, EP=2 x ETP=2 runs over real Gloo
// process groups against the single-process result.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>

#include <torch/torch.h>

#include "layer_checks.h"
#include "model/moe.h"
#include "ranks.h"

namespace hetero {
namespace {

constexpr uint64_t kSeed = 1234;

using test::expect_close;

Group single() { return test::single_group(); }

MoeConfig config(RouterScore score, int64_t shared_ffn) {
  MoeConfig c;
  c.hidden = 8;
  c.expert_ffn = 6;
  c.num_experts = 8;
  c.top_k = 2;
  c.score = score;
  c.normalize_topk = true;
  c.scaling = 2.5;
  c.shared_ffn = shared_ffn;
  return c;
}

// A layer's full weights, copied out as fresh leaves for the reference.
struct Weights {
  at::Tensor gate, bias, shared_up, shared_down;
  std::vector<at::Tensor> up, down;
};

// Spread the router's logits so that no two experts nearly tie (a tie would
// let rounding pick a different expert in differently ordered sums), and
// give the correction bias values that change some choices.
void spread_router(ParamSet& dense, MoeLayer& layer, int64_t experts) {
  at::NoGradGuard no_grad;
  torch::manual_seed(99);
  for (auto& p : dense.params())
    if (p.name.find("gate.weight") != std::string::npos) p.value.copy_(torch::randn_like(p.value));
  layer.score_correction_bias().copy_(torch::randn({experts}) * 0.3);
}

Weights weights_of(const ParamSet& dense, const ParamSet& experts, const MoeLayer& layer, const MoeConfig& c) {
  auto find = [](const ParamSet& ps, const std::string& suffix) {
    for (const auto& p : ps.params())
      if (p.name.size() >= suffix.size() && p.name.compare(p.name.size() - suffix.size(), suffix.size(), suffix) == 0)
        return p.value.detach().clone().set_requires_grad(true);
    throw std::runtime_error("no parameter " + suffix);
  };
  Weights w;
  w.gate = find(dense, ".gate.weight");
  w.bias = layer.score_correction_bias().clone();
  if (c.shared_ffn > 0) {
    w.shared_up = find(dense, ".shared_experts.up_proj.weight");
    w.shared_down = find(dense, ".shared_experts.down_proj.weight");
  }
  for (int64_t e = 0; e < c.num_experts; ++e) {
    w.up.push_back(find(experts, ".experts." + std::to_string(e) + ".up_proj.weight"));
    w.down.push_back(find(experts, ".experts." + std::to_string(e) + ".down_proj.weight"));
  }
  return w;
}

at::Tensor mlp(const at::Tensor& x, const at::Tensor& up, const at::Tensor& down) {
  return at::mv(down, at::relu(at::mv(up, x)).pow(2));
}

// Token by token: scores, the k best experts by score + bias (a host-side
// sort), their weights, and the weighted sum of those experts' outputs.
at::Tensor dense_reference(const at::Tensor& x, const Weights& w, const MoeConfig& c) {
  std::vector<at::Tensor> rows;
  for (int64_t t = 0; t < x.size(0); ++t) {
    const at::Tensor xt = x[t];
    const at::Tensor logits = at::mv(w.gate, xt);
    const at::Tensor scores = c.score == RouterScore::Sigmoid ? at::sigmoid(logits) : at::softmax(logits, 0);
    std::vector<int64_t> experts(c.num_experts);
    std::iota(experts.begin(), experts.end(), 0);
    auto choice = [&](int64_t e) { return scores[e].item<double>() + w.bias[e].item<double>(); };
    std::sort(experts.begin(), experts.end(), [&](int64_t a, int64_t b) { return choice(a) > choice(b); });
    at::Tensor weight_sum = at::zeros({});
    for (int64_t k = 0; k < c.top_k; ++k) weight_sum = weight_sum + scores[experts[k]];
    at::Tensor y = at::zeros({c.hidden});
    for (int64_t k = 0; k < c.top_k; ++k) {
      at::Tensor weight = scores[experts[k]] * c.scaling;
      if (c.normalize_topk) weight = weight / weight_sum;
      y = y + weight * mlp(xt, w.up[experts[k]], w.down[experts[k]]);
    }
    if (c.shared_ffn > 0) y = y + mlp(xt, w.shared_up, w.shared_down);
    rows.push_back(y);
  }
  return at::stack(rows);
}

// The load-balancing loss from its definition, in doubles.
double balance_reference(const at::Tensor& x, const Weights& w, const MoeConfig& c, const std::vector<int64_t>& cu) {
  const at::Tensor logits = at::matmul(x, w.gate.t()).detach();
  double total = 0;
  for (size_t s = 0; s + 1 < cu.size(); ++s) {
    const int64_t T = cu[s + 1] - cu[s];
    std::vector<double> picked(c.num_experts, 0), prob(c.num_experts, 0);
    for (int64_t t = cu[s]; t < cu[s + 1]; ++t) {
      std::vector<double> p(c.num_experts);
      for (int64_t e = 0; e < c.num_experts; ++e) p[e] = logits[t][e].item<double>();
      if (c.score == RouterScore::Sigmoid) {
        for (auto& v : p) v = 1 / (1 + std::exp(-v));
      } else {
        const double m = *std::max_element(p.begin(), p.end());
        for (auto& v : p) v = std::exp(v - m);
      }
      const double sum = std::accumulate(p.begin(), p.end(), 0.0);  // both variants normalise to 1
      for (auto& v : p) v /= sum;
      std::vector<int64_t> order(c.num_experts);
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return p[a] > p[b]; });
      for (int64_t k = 0; k < c.top_k; ++k) picked[order[k]] += 1;
      for (int64_t e = 0; e < c.num_experts; ++e) prob[e] += p[e];
    }
    double seq = 0;
    for (int64_t e = 0; e < c.num_experts; ++e)
      seq += (double(c.num_experts) / (c.top_k * T) * picked[e]) * (prob[e] / T);
    total += seq;
  }
  return total / static_cast<double>(cu.size() - 1);
}

struct SingleRun {
  at::Tensor y, loss, dx;
  std::vector<at::Tensor> grads;  // in the order of weights_of
};

std::vector<at::Tensor> all_weights(const Weights& w) {
  std::vector<at::Tensor> v{w.gate};
  if (w.shared_up.defined()) v.insert(v.end(), {w.shared_up, w.shared_down});
  for (size_t e = 0; e < w.up.size(); ++e) v.insert(v.end(), {w.up[e], w.down[e]});
  return v;
}

class MoeDense : public ::testing::TestWithParam<std::tuple<RouterScore, int64_t>> {};

TEST_P(MoeDense, MatchesLoopOverExperts) {
  const MoeConfig c = config(std::get<0>(GetParam()), std::get<1>(GetParam()));
  const Group one = single();
  ParamSet dense(kSeed, 0, 1, at::kCPU), experts(kSeed, 0, 1, at::kCPU);
  MoeLayer layer(dense, experts, "backbone.layers.3.mixer", c, one, one, at::kFloat);
  spread_router(dense, layer, c.num_experts);
  const Weights ref_w = weights_of(dense, experts, layer, c);

  torch::manual_seed(5);
  const at::Tensor x = torch::randn({20, c.hidden}).set_requires_grad(true);
  const at::Tensor x_ref = x.detach().clone().set_requires_grad(true);
  const at::Tensor direction = torch::randn({20, c.hidden});
  const std::vector<int64_t> cu{0, 7, 20};

  const MoeOutput out = layer.forward(x, cu);
  const at::Tensor want = dense_reference(x_ref, ref_w, c);
  expect_close(out.y, want, 1e-5, "output");
  EXPECT_NEAR(out.load_balancing_loss.item<double>(), balance_reference(x_ref, ref_w, c, cu), 1e-5);

  (out.y * direction).sum().backward();
  (want * direction).sum().backward();
  expect_close(x.grad(), x_ref.grad(), 1e-5, "dx");
  std::vector<at::Tensor> got;
  for (const auto& p : dense.params()) got.push_back(p.value);
  for (const auto& p : experts.params()) got.push_back(p.value);
  // dense: gate, shared...; experts: e.up, e.down in order: the same order as all_weights.
  const auto ref = all_weights(ref_w);
  ASSERT_EQ(got.size(), ref.size());
  for (size_t i = 0; i < ref.size(); ++i) {
    // An expert no token chose has no gradient in the loop; the layer's is zero.
    const at::Tensor want_grad = ref[i].grad().defined() ? ref[i].grad() : at::zeros_like(ref[i]);
    expect_close(got[i].grad(), want_grad, 1e-5, "grad " + std::to_string(i));
  }
}

INSTANTIATE_TEST_SUITE_P(Routing, MoeDense,
                         ::testing::Combine(::testing::Values(RouterScore::Sigmoid, RouterScore::Softmax),
                                            ::testing::Values(int64_t{0}, int64_t{10})),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param) == RouterScore::Sigmoid ? "Sigmoid" : "Softmax") +
                                  (std::get<1>(info.param) > 0 ? "WithSharedExpert" : "NoSharedExpert");
                         });

TEST(Moe, CorrectionBiasChoosesButDoesNotWeigh) {
  // A huge bias on expert 0 makes every token choose it, but the weights
  // still come from the unbiased scores: output unchanged where expert 0 was
  // already chosen, and the loss's top-k ignores the bias.
  MoeConfig c = config(RouterScore::Sigmoid, 0);
  const Group one = single();
  ParamSet dense(kSeed, 0, 1, at::kCPU), experts(kSeed, 0, 1, at::kCPU);
  MoeLayer layer(dense, experts, "m", c, one, one, at::kFloat);
  spread_router(dense, layer, c.num_experts);
  layer.score_correction_bias().zero_();
  torch::manual_seed(6);
  const at::Tensor x = torch::randn({16, c.hidden});
  const MoeOutput plain = layer.forward(x, {0, 16});
  layer.score_correction_bias()[0] = 100.0;
  const MoeOutput biased = layer.forward(x, {0, 16});
  EXPECT_EQ(biased.tokens_per_expert[0].item<int64_t>(), 16);
  EXPECT_LT(plain.tokens_per_expert[0].item<int64_t>(), 16);
  EXPECT_DOUBLE_EQ(biased.load_balancing_loss.item<double>(), plain.load_balancing_loss.item<double>());
  const Weights w = weights_of(dense, experts, layer, c);
  expect_close(biased.y, dense_reference(x, w, c).detach(), 1e-5, "biased output");
}

TEST(Moe, BalanceLossIsOneWhenUniform) {
  // Zero router weights: all scores equal, P_e = 1/E; top-k then picks the
  // same K experts for every token, f_e = E/K for those: L = K * (E/K) / E = 1.
  MoeConfig c = config(RouterScore::Softmax, 0);
  const Group one = single();
  ParamSet dense(kSeed, 0, 1, at::kCPU), experts(kSeed, 0, 1, at::kCPU);
  MoeLayer layer(dense, experts, "m", c, one, one, at::kFloat);
  {
    at::NoGradGuard no_grad;
    dense.params()[0].value.zero_();
  }
  const MoeOutput out = layer.forward(torch::randn({9, c.hidden}), {0, 4, 9});
  EXPECT_NEAR(out.load_balancing_loss.item<double>(), 1.0, 1e-6);
}

// ---- multi-rank: every rank holds different whole sequences ------------------

struct RankRun {
  int ep, etp;
  MoeConfig cfg;
  std::vector<int64_t> cu;                // global sequence starts
  std::vector<int64_t> rank_first_seq;    // rank r holds sequences [first[r], first[r+1])
  double expert0_bias = 0;                // added to expert 0's correction bias
};

void prepare_router(ParamSet& dense, MoeLayer& layer, const RankRun& run) {
  spread_router(dense, layer, run.cfg.num_experts);
  layer.score_correction_bias()[0] += run.expert0_bias;
}

constexpr double kBalanceCoeff = 0.3;

// The single-process loss the ranks' losses must add up to.
at::Tensor objective(const MoeOutput& out, const at::Tensor& direction, double seq_share) {
  return (out.y * direction).sum() + kBalanceCoeff * out.load_balancing_loss * seq_share;
}

void check_against_single(const RankRun& run) {
  const int world = run.ep * run.etp;
  const int64_t n = run.cu.back(), total_seqs = static_cast<int64_t>(run.cu.size()) - 1;
  torch::manual_seed(11);
  const at::Tensor x_all = torch::randn({n, run.cfg.hidden});
  const at::Tensor dir_all = torch::randn({n, run.cfg.hidden});

  // Single process.
  const Group one = single();
  ParamSet dense(kSeed, 0, 1, at::kCPU), experts(kSeed, 0, 1, at::kCPU);
  MoeLayer layer(dense, experts, "backbone.layers.1.mixer", run.cfg, one, one, at::kFloat);
  prepare_router(dense, layer, run);
  const at::Tensor x = x_all.clone().set_requires_grad(true);
  const MoeOutput out = layer.forward(x, run.cu);
  objective(out, dir_all, 1.0).backward();

  HETERO_SKIP_WITHOUT_GLOO();
  const std::string dir = test::temp_dir("moe");
  const std::string failed = test::run_ranks(world, [&](int rank, const StorePtr& store) {
    // Expert view: etp fastest, then ep.
    const int etp_rank = rank % run.etp, ep_rank = rank / run.etp;
    std::vector<int> etp_ranks, ep_ranks;
    for (int i = 0; i < run.etp; ++i) etp_ranks.push_back(ep_rank * run.etp + i);
    for (int i = 0; i < run.ep; ++i) ep_ranks.push_back(i * run.etp + etp_rank);
    const Group etp = test::make_group(store, "etp" + std::to_string(ep_rank), etp_ranks, rank);
    const Group ep = test::make_group(store, "ep" + std::to_string(etp_rank), ep_ranks, rank);
    ParamSet d(kSeed, 0, 1, at::kCPU), e(kSeed, etp.rank, etp.size(), at::kCPU);
    MoeLayer local(d, e, "backbone.layers.1.mixer", run.cfg, ep, etp, at::kFloat);
    prepare_router(d, local, run);
    const int64_t s0 = run.rank_first_seq[rank], s1 = run.rank_first_seq[rank + 1];
    const int64_t begin = run.cu[s0], end = run.cu[s1];
    std::vector<int64_t> cu;
    for (int64_t s = s0; s <= s1; ++s) cu.push_back(run.cu[s] - begin);
    const at::Tensor xr = x_all.narrow(0, begin, end - begin).clone().set_requires_grad(true);
    const MoeOutput o = local.forward(xr, cu);
    objective(o, dir_all.narrow(0, begin, end - begin), double(s1 - s0) / total_seqs).backward();
    std::vector<at::Tensor> saved{o.y, xr.grad(), o.load_balancing_loss};
    for (const auto& p : d.params()) saved.push_back(p.value.grad());
    for (const auto& p : e.params()) saved.push_back(p.value.grad());
    test::save_tensors(dir + "/rank" + std::to_string(rank), saved);
  });
  ASSERT_EQ(failed, "");

  std::vector<at::Tensor> ys, dxs;
  double balance = 0;
  std::vector<at::Tensor> dense_grads;
  const size_t num_dense = dense.params().size();
  for (int rank = 0; rank < world; ++rank) {
    const auto t = test::load_tensors(dir + "/rank" + std::to_string(rank));
    ys.push_back(t[0]);
    dxs.push_back(t[1]);
    const int64_t seqs = run.rank_first_seq[rank + 1] - run.rank_first_seq[rank];
    balance += t[2].item<double>() * seqs / total_seqs;
    for (size_t i = 0; i < num_dense; ++i) {
      if (rank == 0) dense_grads.push_back(t[3 + i].clone());
      else dense_grads[i] += t[3 + i];
    }
    // Expert grads: this rank's experts, its etp slice of each.
    const int etp_rank = rank % run.etp, ep_rank = rank / run.etp;
    const int64_t per_rank = run.cfg.num_experts / run.ep;
    for (int64_t l = 0; l < per_rank; ++l) {
      const int64_t e = ep_rank * per_rank + l;
      const at::Tensor up = experts.params()[2 * e].value.grad().chunk(run.etp, 0)[etp_rank];
      const at::Tensor down = experts.params()[2 * e + 1].value.grad().chunk(run.etp, 1)[etp_rank];
      expect_close(t[3 + num_dense + 2 * l], up, 1e-5, "rank " + std::to_string(rank) + " expert up grad");
      expect_close(t[3 + num_dense + 2 * l + 1], down, 1e-5, "rank " + std::to_string(rank) + " expert down grad");
    }
  }
  test::remove_flat_dir(dir);
  expect_close(at::cat(ys), out.y.detach(), 1e-5, "output");
  expect_close(at::cat(dxs), x.grad(), 1e-5, "dx");
  EXPECT_NEAR(balance, out.load_balancing_loss.item<double>(), 1e-6);
  for (size_t i = 0; i < num_dense; ++i)
    expect_close(dense_grads[i], dense.params()[i].value.grad(), 1e-5, "summed grad of " + dense.params()[i].name);
}

TEST(MoeRanks, ExpertParallel2MatchesSingleProcess) {
  RankRun run{2, 1, config(RouterScore::Sigmoid, 10), {0, 5, 12, 24}, {0, 2, 3}};
  check_against_single(run);
}

TEST(MoeRanks, ExpertParallel2TimesExpertTensorParallel2MatchesSingleProcess) {
  RankRun run{2, 2, config(RouterScore::Softmax, 0), {0, 3, 8, 14, 20, 24, 30}, {0, 2, 3, 5, 6}};
  check_against_single(run);
}

TEST(MoeRanks, AllTokensToOneRankStillMatches) {
  // top-1 and a large bias on expert 0: every token goes to EP rank 0, so
  // rank 1 receives no rows and its experts run on nothing.
  MoeConfig c = config(RouterScore::Sigmoid, 0);
  c.top_k = 1;
  RankRun run{2, 2, c, {0, 6, 10, 16, 20}, {0, 1, 2, 3, 4}, 100.0};
  check_against_single(run);
}

}  // namespace
}  // namespace hetero
