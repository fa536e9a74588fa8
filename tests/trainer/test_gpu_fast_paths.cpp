// The CUDA fast paths against their reference paths, on the GPU (skipped
// where no CUDA device is visible, as in CI): the MoE's grouped GEMM against
// the per-expert loop on the CPU, the grouped bf16 SSD scan against the fp32
// scan, the chunked cross-entropy against the full logits, the cached bf16
// weights against a cast at use, and shard-only initialisation on the device
// against the CPU's. bf16 results are held to design §4's tolerance
// (relative 2e-2, cosine >= 0.999). The weight gradient that the linear
// layers accumulate in fp32 is held closer (to fp32 rounding).
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "compat.h"
#include "layer_checks.h"
#include "model/moe.h"
#include "model/params.h"
#include "model/ssd_scan.h"
#include "model/vocab_parallel.h"

namespace hetero {
namespace {

#define SKIP_WITHOUT_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device: the fast paths run on the GPU only"

const at::Device kGpu(at::kCUDA, 0);

// bf16 closeness (design §4): max error within 2e-2 of the reference's
// largest magnitude, and the two nearly parallel.
void expect_bf16_close(const at::Tensor& got, const at::Tensor& want, const std::string& what) {
  const at::Tensor a = got.detach().to(at::kCPU, at::kDouble).reshape({-1});
  const at::Tensor b = want.detach().to(at::kCPU, at::kDouble).reshape({-1});
  ASSERT_EQ(a.numel(), b.numel()) << what;
  const double scale = std::max(b.abs().max().item<double>(), 1e-12);
  EXPECT_LE((a - b).abs().max().item<double>(), 2e-2 * scale) << what;
  const double cosine = (a * b).sum().item<double>() / (a.norm().item<double>() * b.norm().item<double>() + 1e-30);
  EXPECT_GE(cosine, 0.999) << what;
}

TEST(GpuFastPaths, ShardInitOnTheDeviceEqualsTheCpu) {
  SKIP_WITHOUT_CUDA();
  for (int rank = 0; rank < 2; ++rank) {
    ParamSet cpu(77, rank, 2, at::kCPU), gpu(77, rank, 2, kGpu);
    const at::Tensor a = cpu.add("llm.backbone.layers.0.mixer.in_proj.weight", {4096, 96}, 0, Init::Normal);
    const at::Tensor b = gpu.add("llm.backbone.layers.0.mixer.in_proj.weight", {4096, 96}, 0, Init::Normal);
    EXPECT_TRUE(b.is_cuda());
    EXPECT_TRUE(at::equal(a.detach(), b.detach().cpu()));
  }
}

TEST(GpuFastPaths, CachedBf16WeightsEqualACastAtUse) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(1);
  const at::Tensor master = torch::randn({64, 32}, at::TensorOptions().device(kGpu)).set_requires_grad(true);
  const at::Tensor x = torch::randn({16, 32}, at::TensorOptions().device(kGpu)).to(at::kBFloat16);
  const ComputeWeights weights(at::kBFloat16);
  auto run = [&](const at::Tensor& w) {
    master.mutable_grad() = at::Tensor();
    const at::Tensor y = at::matmul(x, w.t());
    y.to(at::kFloat).pow(2).sum().backward();
    return std::make_pair(y.detach(), master.grad().clone());
  };
  const auto cast = run(master.to(at::kBFloat16));
  const auto cached = run(weights(master));
  EXPECT_TRUE(at::equal(cached.first, cast.first));
  EXPECT_TRUE(at::equal(cached.second, cast.second));
}

// ComputeWeights::linear on the GPU adds the weight gradient into the fp32
// master's .grad from its GEMM: over two backward passes (the first creates
// .grad, the second accumulates) the masters' gradients, x's and the bias's
// must equal fp64 math on the same bf16 operands to fp32-accumulation
// rounding, tighter than the bf16 tolerance a bf16 gradient would need.
TEST(GpuFastPaths, LinearAccumulatesTheWeightGradientInFp32) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(4);
  const auto f = at::TensorOptions().device(kGpu);
  const int64_t tokens = 333, in = 96, rows = 40;  // odd sizes
  const ComputeWeights weights(at::kBFloat16);
  for (const bool stacked : {false, true}) {
    std::vector<at::Tensor> masters;
    for (int i = 0; i < (stacked ? 3 : 1); ++i)
      masters.push_back((torch::randn({rows, in}, f) * 0.1).set_requires_grad(true));
    const int64_t out = rows * static_cast<int64_t>(masters.size());
    const at::Tensor bias_master = torch::randn({out}, f).set_requires_grad(true);
    ASSERT_TRUE(weights.accumulates_in_gemm(masters[0]));
    at::Tensor ref_w_grad, ref_b_grad;
    const at::Tensor w_all = at::cat(masters, 0).to(at::kBFloat16).to(at::kDouble);
    for (int pass = 0; pass < 2; ++pass) {
      const at::Tensor x = torch::randn({3, tokens / 3, in}, f).to(at::kBFloat16).set_requires_grad(true);
      const at::Tensor g = torch::randn({3, tokens / 3, out}, f).to(at::kBFloat16);
      const at::Tensor y = stacked ? weights.linear(x, masters, weights(bias_master))
                                   : weights.linear(x, masters[0], weights(bias_master));
      y.backward(g);
      // fp64 on the same bf16 values
      const at::Tensor x2 = x.detach().reshape({-1, in}).to(at::kDouble);
      const at::Tensor g2 = g.reshape({-1, out}).to(at::kDouble);
      const at::Tensor dw = at::matmul(g2.t(), x2), db = g2.sum(0);
      ref_w_grad = pass == 0 ? dw : ref_w_grad + dw;
      ref_b_grad = pass == 0 ? db : ref_b_grad + db;
      expect_bf16_close(x.grad(), at::matmul(g2, w_all).view(x.sizes()), "dx");
    }
    const at::Tensor got_w = at::cat([&] {
      std::vector<at::Tensor> gs;
      for (const at::Tensor& m : masters) gs.push_back(m.grad());
      return gs;
    }(), 0).to(at::kDouble);
    EXPECT_EQ(masters[0].grad().scalar_type(), at::kFloat);
    const double scale = ref_w_grad.abs().max().item<double>();
    EXPECT_LE((got_w - ref_w_grad).abs().max().item<double>(), 1e-4 * scale) << (stacked ? "stacked" : "single");
    expect_bf16_close(bias_master.grad(), ref_b_grad, "d bias");
  }
}

TEST(GpuFastPaths, GroupedBf16SsdScanMatchesTheFp32Scan) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(2);
  const auto f = at::TensorOptions().device(kGpu);
  const int64_t b = 2, l = 300, g = 2, hg = 4, h = g * hg, p = 16, n = 32, chunk = 64;  // 300: a partial chunk
  const at::Tensor x = torch::randn({b, l, h, p}, f).to(at::kBFloat16).set_requires_grad(true);
  const at::Tensor dt = torch::nn::functional::softplus(torch::randn({b, l, h}, f) - 2).set_requires_grad(true);
  const at::Tensor A = (-torch::rand({h}, f) * 2 - 0.1).set_requires_grad(true);
  const at::Tensor B = torch::randn({b, l, g, n}, f).to(at::kBFloat16).set_requires_grad(true);
  const at::Tensor C = torch::randn({b, l, g, n}, f).to(at::kBFloat16).set_requires_grad(true);
  const at::Tensor w = torch::randn({b, l, h, p}, f);
  auto run = [&](bool fast) {
    for (const at::Tensor* t : {&x, &dt, &A, &B, &C})
      if (t->grad().defined()) t->mutable_grad() = at::Tensor();
    const at::Tensor y = fast ? ssd_chunked_scan_grouped(x, dt, A, B, C, chunk)
                              : ssd_chunked_scan(x.to(at::kFloat), dt, A, B.to(at::kFloat).repeat_interleave(hg, 2),
                                                 C.to(at::kFloat).repeat_interleave(hg, 2), chunk);
    (y * w).sum().backward();
    return std::vector<at::Tensor>{y.detach(), x.grad().clone(), dt.grad().clone(), A.grad().clone(), B.grad().clone(),
                                   C.grad().clone()};
  };
  const auto fast = run(true), reference = run(false);
  const char* names[] = {"y", "dx", "ddt", "dA", "dB", "dC"};
  for (size_t i = 0; i < fast.size(); ++i) expect_bf16_close(fast[i], reference[i], names[i]);
}

TEST(GpuFastPaths, ChunkedCrossEntropyMatchesFullLogits) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(3);
  const auto f = at::TensorOptions().device(kGpu);
  const int64_t tokens = 1000, hidden = 256, vocab = 5000;
  const Group one = test::single_group();
  const at::Tensor h0 = torch::randn({tokens, hidden}, f).to(at::kBFloat16);
  const at::Tensor w0 = torch::randn({vocab, hidden}, f) * 0.05;
  const at::Tensor labels = torch::randint(0, vocab, {tokens}, f.dtype(at::kLong));
  const at::Tensor mask = (torch::rand({tokens}, f) > 0.2).to(at::kFloat);
  auto run = [&](bool chunked) {
    const at::Tensor h = h0.clone().set_requires_grad(true), w = w0.clone().set_requires_grad(true);
    const at::Tensor loss = chunked ? vocab_parallel_cross_entropy_sum(h, w, labels, mask, one, 128)
                                    : (vocab_parallel_cross_entropy(at::matmul(h, w.to(at::kBFloat16).t()), labels, one) *
                                       mask).sum();
    loss.backward();
    return std::vector<at::Tensor>{loss.detach(), h.grad(), w.grad()};
  };
  const auto chunked = run(true), reference = run(false);
  expect_bf16_close(chunked[0], reference[0], "loss");
  expect_bf16_close(chunked[1], reference[1], "d hidden");
  expect_bf16_close(chunked[2], reference[2], "d weight");
}

TEST(GpuFastPaths, GroupedGemmMoeMatchesThePerExpertLoop) {
  SKIP_WITHOUT_CUDA();
  MoeConfig c;
  c.hidden = 64, c.expert_ffn = 32, c.num_experts = 8, c.top_k = 2, c.shared_ffn = 48, c.scaling = 2.0;
  const Group one = test::single_group();
  auto run = [&](at::Device device, at::ScalarType compute) {
    ParamSet dense(5, 0, 1, device), experts(5, 0, 1, device);
    MoeLayer layer(dense, experts, "llm.backbone.layers.1.mixer", c, one, one, compute);
    torch::manual_seed(4);
    const at::Tensor x = torch::randn({203, c.hidden}).to(device).set_requires_grad(true);
    const MoeOutput out = layer.forward(x, {0, 100, 203});
    out.y.pow(2).sum().backward();
    std::vector<at::Tensor> r{out.y.detach(), x.grad()};
    for (const auto& p : experts.params()) r.push_back(p.value.grad());
    return r;
  };
  ASSERT_TRUE(grouped_mm_fits(torch::zeros({8, 8}, at::TensorOptions().device(kGpu).dtype(at::kBFloat16)), 64, 32))
      << "at::_grouped_mm is not available here (LibTorch >= 2.8, SM90)";
  const auto fast = run(kGpu, at::kBFloat16), reference = run(at::kCPU, at::kFloat);
  ASSERT_EQ(fast.size(), reference.size());
  expect_bf16_close(fast[0], reference[0], "y");
  expect_bf16_close(fast[1], reference[1], "dx");
  for (size_t i = 2; i < fast.size(); ++i) expect_bf16_close(fast[i], reference[i], "expert grad " + std::to_string(i - 2));
}

}  // namespace
}  // namespace hetero
