// Initial weights are topology-independent (design §4): a rank that draws
// only its tensor-parallel shard gets exactly the elements that drawing the
// full tensor element by element and slicing it gives.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "hetero/rng.h"
#include "model/params.h"

namespace hetero {
namespace {

// The definition of a parameter's initial values, spelled out one element
// at a time over the full tensor.
at::Tensor full_reference(std::uint64_t seed, const std::string& name, const std::vector<int64_t>& shape, double std) {
  at::Tensor full = at::empty(shape, at::kFloat);
  const CounterRng rng(mix(seed, hash_name(name)));
  float* p = full.data_ptr<float>();
  for (int64_t i = 0; i < full.numel(); ++i) p[i] = static_cast<float>(std * rng.normal(static_cast<std::uint64_t>(i)));
  return full;
}

struct Case {
  std::vector<int64_t> shape;
  int dim;
};

TEST(Params, ShardOnlyInitEqualsFullInitThenSlice) {
  const std::uint64_t seed = 1234;
  // Row-split (column-parallel), column-split (row-parallel), a conv weight
  // [channels, 1, K], a vector, and a replicated tensor.
  const std::vector<Case> cases = {{{6, 5}, 0}, {{5, 6}, 1}, {{8, 1, 3}, 0}, {{10}, 0}, {{3, 7}, -1}, {{2, 4, 6}, 2}};
  for (const Case& c : cases) {
    for (int tp : {1, 2}) {
      for (int rank = 0; rank < tp; ++rank) {
        // The same ParamSet serves tp shards and, given etp rank/size, expert shards.
        ParamSet params(seed, rank, tp, at::kCPU);
        const std::string name = "llm.backbone.layers.3.mixer.w" + std::to_string(c.dim);
        const at::Tensor local = params.add(name, c.shape, c.dim, Init::Normal, 0.05);
        at::Tensor expected = full_reference(seed, name, c.shape, 0.05);
        if (c.dim >= 0 && tp > 1) expected = expected.chunk(tp, c.dim)[rank];
        ASSERT_EQ(local.sizes(), expected.sizes());
        EXPECT_TRUE(at::equal(local.detach(), expected)) << "shape dim " << c.dim << " tp " << tp << " rank " << rank;
        EXPECT_EQ(params.full_numel(), expected.numel() * (c.dim >= 0 ? tp : 1));
        EXPECT_EQ(params.params().back().shards, c.dim >= 0 ? tp : 1);
        EXPECT_EQ(params.params().back().shard, c.dim >= 0 ? rank : 0);
      }
    }
  }
}

TEST(Params, OnesAreOnesAndNotDecayed) {
  ParamSet params(1, 1, 2, at::kCPU);
  const at::Tensor w = params.add("llm.backbone.norm_f.weight", {8}, 0, Init::Ones);
  EXPECT_TRUE(at::equal(w.detach(), at::ones({4})));
  EXPECT_FALSE(params.params().back().decay);
  EXPECT_TRUE(w.requires_grad());
}

TEST(Params, IndivisibleShardIsRefused) {
  ParamSet params(1, 0, 2, at::kCPU);
  EXPECT_THROW(params.add("llm.x", {3, 4}, 0, Init::Normal), std::invalid_argument);
}

}  // namespace
}  // namespace hetero

namespace hetero {
namespace {

// ComputeWeights hands out a copy in the compute dtype that follows the
// master's in-place updates, and whose gradient reaches the master as a
// cast's would (double stands in for bf16: the CPU build computes in fp32).
TEST(ComputeWeights, CopyFollowsTheMasterAndPassesGradients) {
  torch::manual_seed(3);
  const at::Tensor master = torch::randn({4, 3}).set_requires_grad(true);
  const at::Tensor x = torch::randn({5, 3}, at::kDouble);
  const ComputeWeights weights(at::kDouble);
  auto grad_through = [&](const at::Tensor& w) {
    master.mutable_grad() = at::Tensor();
    (at::matmul(x, w.t()) * 1.5).sum().backward();
    return master.grad().clone();
  };
  const at::Tensor via_cast = grad_through(master.to(at::kDouble));
  const at::Tensor via_cache = grad_through(weights(master));
  EXPECT_TRUE(at::equal(via_cache, via_cast));
  EXPECT_EQ(via_cache.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(weights.copy(master), master.detach().to(at::kDouble)));
  // An optimizer-like in-place step: the next use sees the new values.
  {
    at::NoGradGuard no_grad;
    master.mul_(0.5).add_(1.0);
  }
  EXPECT_TRUE(at::equal(weights(master).detach(), master.detach().to(at::kDouble)));
  EXPECT_TRUE(at::equal(grad_through(weights(master)), via_cast));  // linear: the gradient does not depend on w
}

TEST(ComputeWeights, StackedExpertsGetTheirOwnGradients) {
  torch::manual_seed(4);
  std::vector<at::Tensor> experts;
  for (int i = 0; i < 3; ++i) experts.push_back(torch::randn({2, 3}).set_requires_grad(true));
  const ComputeWeights weights(at::kDouble);
  const at::Tensor stacked = weights.stacked(experts);
  ASSERT_EQ(stacked.sizes(), (std::vector<int64_t>{3, 2, 3}));
  const at::Tensor direction = torch::randn({3, 2, 3}, at::kDouble);
  (stacked * direction).sum().backward();
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(at::equal(stacked[i].detach(), experts[i].detach().to(at::kDouble)));
    EXPECT_TRUE(at::equal(experts[i].grad(), direction[i].to(at::kFloat))) << "expert " << i;
  }
  // Where the compute dtype is the master's, the master itself is used.
  const ComputeWeights same(at::kFloat);
  EXPECT_TRUE(same(experts[0]).is_same(experts[0]));
}

}  // namespace
}  // namespace hetero
