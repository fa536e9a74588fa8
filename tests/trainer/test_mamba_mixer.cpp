// The Mamba-2 mixer against a step-by-step computation written from HF
// NemotronHMamba2Mixer's definition (HF weight layout, an explicit conv
// loop, the SSD recurrence, gated per-group RMSNorm), in values and
// gradients; packed samples equal each sample run alone; tp=2 over real
// Gloo equals one process.
#include <gtest/gtest.h>


#include <torch/torch.h>

#include "layer_checks.h"
#include "model/mamba_mixer.h"
#include "model/ssd_scan.h"
#include "ranks.h"

namespace hetero {
namespace {

constexpr uint64_t kSeed = 77;

MambaConfig config() {
  MambaConfig c;
  c.hidden = 10;
  c.heads = 4;
  c.head_dim = 3;
  c.groups = 2;
  c.state = 5;
  c.conv_kernel = 4;
  c.chunk = 4;
  return c;
}

at::Tensor param(const ParamSet& ps, const std::string& suffix) {
  for (const auto& p : ps.params())
    if (p.name.size() >= suffix.size() && p.name.compare(p.name.size() - suffix.size(), suffix.size(), suffix) == 0)
      return p.value;
  throw std::runtime_error("no parameter " + suffix);
}

// HF-layout weights as differentiable functions of fresh leaf copies of ours.
struct HfWeights {
  std::vector<at::Tensor> leaves;  // our tensors, in ParamSet order
  at::Tensor in_proj, conv_w, conv_b, dt_bias, A_log, D, norm_w, out_proj;
};

HfWeights hf_weights(const ParamSet& ps, const MambaConfig& c) {
  HfWeights w;
  for (const auto& p : ps.params()) w.leaves.push_back(p.value.detach().clone().set_requires_grad(true));
  // ours[r] = hf[rows[r]]  =>  hf = ours.index_select(0, inverse(rows))
  auto to_hf = [](const at::Tensor& ours, const std::vector<int64_t>& rows) {
    const at::Tensor r = torch::tensor(rows, torch::kLong);
    return ours.index_select(0, torch::argsort(r));
  };
  w.in_proj = to_hf(w.leaves[0], mamba_in_proj_rows_in_hf(c));
  w.conv_w = to_hf(w.leaves[1], mamba_conv_channels_in_hf(c));
  w.conv_b = to_hf(w.leaves[2], mamba_conv_channels_in_hf(c));
  w.dt_bias = w.leaves[3];
  w.A_log = w.leaves[4];
  w.D = w.leaves[5];
  w.norm_w = w.leaves[6];
  w.out_proj = w.leaves[7];
  return w;
}

// One sample [L, hidden], step by step in HF's layout.
at::Tensor reference_sample(const at::Tensor& x, const HfWeights& w, const MambaConfig& c) {
  const int64_t L = x.size(0), hp = c.inner(), gn = c.groups * c.state, conv_ch = c.conv_channels();
  const int64_t per_group = c.heads / c.groups, K = c.conv_kernel;
  const at::Tensor proj = at::matmul(x, w.in_proj.t());
  const at::Tensor z = proj.narrow(1, 0, hp), xbc = proj.narrow(1, hp, conv_ch), dt_raw = proj.narrow(1, hp + conv_ch, c.heads);
  std::vector<at::Tensor> conv_rows;
  for (int64_t t = 0; t < L; ++t) {
    at::Tensor acc = w.conv_b;
    for (int64_t j = 0; j < K; ++j) {
      const int64_t src = t - (K - 1) + j;  // tap j sees input t - (K-1) + j
      if (src >= 0) acc = acc + w.conv_w.select(1, 0).select(1, j) * xbc[src];
    }
    conv_rows.push_back(at::silu(acc));
  }
  const at::Tensor conv = at::stack(conv_rows);  // [L, conv_ch]
  const at::Tensor xs = conv.narrow(1, 0, hp).view({1, L, c.heads, c.head_dim});
  auto per_head = [&](const at::Tensor& g) {  // [L, G*N] -> [1, L, H, N], head h reads group h / per_group
    std::vector<at::Tensor> heads;
    for (int64_t h = 0; h < c.heads; ++h) heads.push_back(g.view({L, c.groups, c.state}).select(1, h / per_group));
    return at::stack(heads, 1).unsqueeze(0);
  };
  const at::Tensor B = per_head(conv.narrow(1, hp, gn)), C = per_head(conv.narrow(1, hp + gn, gn));
  const at::Tensor dt = at::softplus(dt_raw + w.dt_bias).clamp_min(c.dt_clamp_min).unsqueeze(0);
  const at::Tensor A = -at::exp(w.A_log);
  const at::Tensor y = ssd_recurrence(xs, dt, A, B, C)[0] + xs[0] * w.D.view({c.heads, 1});  // [L, H, P]
  const at::Tensor gated = y.reshape({L, hp}) * at::silu(z);
  const int64_t group_size = hp / c.groups;
  std::vector<at::Tensor> groups;
  for (int64_t g = 0; g < c.groups; ++g) {
    const at::Tensor part = gated.narrow(1, g * group_size, group_size);
    groups.push_back(part * at::rsqrt(part.pow(2).mean(-1, true) + c.norm_eps));
  }
  return at::matmul(at::cat(groups, 1) * w.norm_w, w.out_proj.t());
}

TEST(MambaMixer, MatchesStepByStepReferenceOnPackedSamples) {
  const MambaConfig c = config();
  const Group one = test::single_group();
  ParamSet ps(kSeed, 0, 1, at::kCPU);
  MambaMixer mixer(ps, "backbone.layers.0.mixer", c, one, at::kFloat);
  test::randomize(ps, 0, 1, 500);
  const HfWeights w = hf_weights(ps, c);

  torch::manual_seed(3);
  const std::vector<int64_t> cu{0, 7, 9, 19};  // lengths 7, 2, 10: partial chunks, one shorter than K
  const at::Tensor x = torch::randn({19, c.hidden}).set_requires_grad(true);
  const at::Tensor x_ref = x.detach().clone().set_requires_grad(true);
  const at::Tensor direction = torch::randn({19, c.hidden});

  const at::Tensor y = mixer.forward(x, cu);
  std::vector<at::Tensor> parts;
  for (size_t s = 0; s + 1 < cu.size(); ++s) parts.push_back(reference_sample(x_ref.narrow(0, cu[s], cu[s + 1] - cu[s]), w, c));
  const at::Tensor want = at::cat(parts);
  test::expect_close(y, want, 1e-5, "output");

  (y * direction).sum().backward();
  (want * direction).sum().backward();
  test::expect_close(x.grad(), x_ref.grad(), 1e-4, "dx");
  for (size_t i = 0; i < ps.params().size(); ++i)
    test::expect_close(ps.params()[i].value.grad(), w.leaves[i].grad(), 1e-4, "grad of " + ps.params()[i].name);
}

// dt_clamp_min (transformers' NemotronH clamps dt at time_step_min): with
// dt_bias pushed low most steps fall under the clamp, and the mixer still
// matches the reference with dt clamped, but not the unclamped mixer.
TEST(MambaMixer, DtClampMatchesClampedReference) {
  MambaConfig c = config();
  c.dt_clamp_min = 0.05;
  const Group one = test::single_group();
  ParamSet ps(kSeed, 0, 1, at::kCPU);
  MambaMixer clamped(ps, "backbone.layers.0.mixer", c, one, at::kFloat);
  test::randomize(ps, 0, 1, 501);
  at::NoGradGuard no_grad;
  for (Param& p : ps.params())
    if (p.name.find("dt_bias") != std::string::npos) p.value.sub_(4.0);  // softplus(~-4) ~ 0.02 < 0.05
  const HfWeights w = hf_weights(ps, c);
  torch::manual_seed(4);
  const at::Tensor x = torch::randn({12, c.hidden});
  test::expect_close(clamped.forward(x, {0, 12}), reference_sample(x, w, c), 1e-5, "clamped output");

  MambaConfig unclamped_cfg = c;
  unclamped_cfg.dt_clamp_min = 0;
  ParamSet ps2(kSeed, 0, 1, at::kCPU);
  MambaMixer unclamped(ps2, "backbone.layers.0.mixer", unclamped_cfg, one, at::kFloat);
  for (size_t i = 0; i < ps.params().size(); ++i) ps2.params()[i].value.copy_(ps.params()[i].value);
  const at::Tensor diff = (unclamped.forward(x, {0, 12}) - clamped.forward(x, {0, 12})).abs().max();
  EXPECT_GT(diff.item<double>(), 1e-4) << "the clamp should matter for these dt";
}

TEST(MambaMixer, PackedSamplesEqualEachSampleAlone) {
  const MambaConfig c = config();
  const Group one = test::single_group();
  ParamSet ps(kSeed, 0, 1, at::kCPU);
  MambaMixer mixer(ps, "m", c, one, at::kFloat);
  test::randomize(ps, 0, 1, 600);
  torch::manual_seed(4);
  const at::Tensor a = torch::randn({11, c.hidden}), b = torch::randn({6, c.hidden});
  const at::Tensor packed = mixer.forward(at::cat({a, b}), {0, 11, 17});
  test::expect_close(packed.narrow(0, 0, 11), mixer.forward(a, {0, 11}), 1e-6, "first sample");
  test::expect_close(packed.narrow(0, 11, 6), mixer.forward(b, {0, 6}), 1e-6, "second sample");
  // And the boundary matters: as one sample the second part differs.
  const at::Tensor joined = mixer.forward(at::cat({a, b}), {0, 17});
  EXPECT_GT((joined.narrow(0, 11, 6) - packed.narrow(0, 11, 6)).abs().max().item<double>(), 1e-3);
}

TEST(MambaMixer, HfPermutationsArePermutations) {
  const MambaConfig c = config();
  for (const auto& rows : {mamba_in_proj_rows_in_hf(c), mamba_conv_channels_in_hf(c)}) {
    std::vector<int64_t> sorted = rows;
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 0; i < sorted.size(); ++i) ASSERT_EQ(sorted[i], static_cast<int64_t>(i));
  }
  EXPECT_EQ(static_cast<int64_t>(mamba_in_proj_rows_in_hf(c).size()), c.in_proj_rows());
}

TEST(MambaMixerRanks, TensorParallel2MatchesSingleProcess) {
  const MambaConfig c = config();
  torch::manual_seed(8);
  const std::vector<int64_t> cu{0, 9, 16};
  const at::Tensor x = torch::randn({16, c.hidden}), direction = torch::randn({16, c.hidden});
  test::expect_tp2_matches_single("mamba", kSeed, x, direction,
                                  [&](ParamSet& ps, const Group& tp, const at::Tensor& in) {
                                    MambaMixer mixer(ps, "backbone.layers.0.mixer", c, tp, at::kFloat);
                                    test::randomize(ps, tp.rank, tp.size(), 700);
                                    return mixer.forward(in, cu);
                                  });
}

}  // namespace
}  // namespace hetero
