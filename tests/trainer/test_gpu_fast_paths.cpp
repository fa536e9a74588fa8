// The CUDA fast paths against their reference paths, on the GPU (skipped
// where no CUDA device is visible, as in CI): the MoE's grouped GEMM against
// the per-expert loop on the CPU, the grouped bf16 SSD scan against the fp32
// scan, the chunked cross-entropy against the full logits and its fused
// kernels against its ATen path and fp64 math, the cached bf16
// weights against a cast at use, and shard-only initialisation on the device
// against the CPU's, the fused chunk-score, SSD state input and output,
// gated RMSNorm, causal conv1d + SiLU and residual add + LayerNorm kernels against the ATen expressions on the CPU, the GELU
// backward kernel against ATen's gelu and gelu_backward, the fused AdamW
// step against the ATen ops on the CPU, and the gradient statistics against
// the CPU's fp64 sums. bf16 results are held to design §4's tolerance
// (relative 2e-2, cosine >= 0.999). The weight gradient that the linear
// layers accumulate in fp32 is held closer (to fp32 rounding).
#include <cstdio>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include "compat.h"
#include "fused_references.h"
#include "layer_checks.h"
#include "model/add_layer_norm.h"
#include "model/causal_conv1d.h"
#include "model/chunk_scores.h"
#include "model/gated_rms_norm.h"
#include "model/gelu_backward.h"
#include "model/moe.h"
#include "model/params.h"
#include "model/squared_relu.h"
#include "model/ssd_output.h"
#include "model/ssd_scan.h"
#include "model/ssd_state_input.h"
#include "model/ssd_state_passing.h"
#include "model/transformer_block.h"
#include "model/vocab_parallel.h"
#include "optim/adamw_step.h"
#include "optim/grads.h"
#ifdef HETERO_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>

#include "kernels/add_into_fp32_launch.h"
#include "kernels/causal_conv1d_launch.h"
#include "kernels/chunk_scores_launch.h"
#include "kernels/cross_entropy_launch.h"
#include "kernels/gated_rms_norm_launch.h"
#endif

namespace hetero {
namespace {

#define SKIP_WITHOUT_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device: the fast paths run on the GPU only"

using torch::autograd::variable_list;

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

// ComputeWeights::linear on the GPU adds the weight and bias gradients into
// the fp32 masters' .grad itself (the weights' from their GEMM, the biases'
// from fp32 column sums): over two backward passes (the first creates .grad,
// the second accumulates) the masters' gradients and x's must equal fp64
// math on the same bf16 operands to fp32-accumulation rounding, tighter than
// the bf16 tolerance a bf16 gradient would need. In the stacked case the
// middle weight has no bias (the encoder's key): its output rows carry none.
TEST(GpuFastPaths, LinearAccumulatesTheWeightGradientInFp32) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(4);
  const auto f = at::TensorOptions().device(kGpu);
  const int64_t tokens = 333, in = 96, rows = 40;  // odd sizes
  const ComputeWeights weights(at::kBFloat16);
  for (const bool stacked : {false, true}) {
    std::vector<at::Tensor> masters, biases;
    for (int i = 0; i < (stacked ? 3 : 1); ++i) {
      masters.push_back((torch::randn({rows, in}, f) * 0.1).set_requires_grad(true));
      biases.push_back(stacked && i == 1 ? at::Tensor() : torch::randn({rows}, f).set_requires_grad(true));
    }
    const int64_t out = rows * static_cast<int64_t>(masters.size());
    ASSERT_TRUE(weights.accumulates_in_gemm(masters[0]));
    at::Tensor ref_w_grad, ref_b_grad;
    const at::Tensor w_all = at::cat(masters, 0).to(at::kBFloat16).to(at::kDouble);
    std::vector<at::Tensor> b_parts;
    for (size_t i = 0; i < biases.size(); ++i)
      b_parts.push_back(biases[i].defined() ? biases[i].detach().to(at::kBFloat16).to(at::kDouble)
                                            : at::zeros({rows}, f.dtype(at::kDouble)));
    const at::Tensor b_all = at::cat(b_parts);
    for (int pass = 0; pass < 2; ++pass) {
      const at::Tensor x = torch::randn({3, tokens / 3, in}, f).to(at::kBFloat16).set_requires_grad(true);
      const at::Tensor g = torch::randn({3, tokens / 3, out}, f).to(at::kBFloat16);
      const at::Tensor y = stacked ? weights.linear(x, masters, biases) : weights.linear(x, masters[0], biases[0]);
      y.backward(g);
      // fp64 on the same bf16 values
      const at::Tensor x2 = x.detach().reshape({-1, in}).to(at::kDouble);
      const at::Tensor g2 = g.reshape({-1, out}).to(at::kDouble);
      expect_bf16_close(y.detach().reshape({-1, out}), at::matmul(x2, w_all.t()) + b_all, "y");
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
    const double b_scale = ref_b_grad.abs().max().item<double>();
    for (size_t i = 0; i < biases.size(); ++i) {
      if (!biases[i].defined()) continue;
      ASSERT_TRUE(biases[i].grad().defined()) << "bias " << i;
      EXPECT_EQ(biases[i].grad().scalar_type(), at::kFloat);
      const at::Tensor ref = ref_b_grad.narrow(0, static_cast<int64_t>(i) * rows, rows);
      EXPECT_LE((biases[i].grad().to(at::kDouble) - ref).abs().max().item<double>(), 1e-5 * b_scale)
          << (stacked ? "stacked" : "single") << " bias " << i;
    }
  }
}

// The squared-ReLU kernels give ATen's relu + pow (and their autograd
// backward) bit for bit in bf16: the same fp32 products rounded once. Zeros
// and negatives included; a shape the kernels do not take (numel % 8 != 0)
// falls back to ATen.
TEST(GpuFastPaths, SquaredReluKernelsEqualAtenBitwise) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(5);
  const auto f = at::TensorOptions().device(kGpu);
  for (const std::vector<int64_t>& shape : {std::vector<int64_t>{333, 24}, std::vector<int64_t>{5, 7}}) {
    at::Tensor u0 = torch::randn(shape, f);
    u0.view({-1}).narrow(0, 0, 3).zero_();
    u0 = u0.to(at::kBFloat16);
    const at::Tensor dh = torch::randn(shape, f).to(at::kBFloat16);
    EXPECT_EQ(squared_relu_kernel_supports(u0), shape[1] == 24);
    const at::Tensor u_fast = u0.clone().set_requires_grad(true), u_ref = u0.clone().set_requires_grad(true);
    const at::Tensor h_fast = squared_relu(u_fast), h_ref = at::relu(u_ref).pow(2);
    h_fast.backward(dh);
    h_ref.backward(dh);
    EXPECT_TRUE(at::equal(h_fast, h_ref)) << shape[1];
    EXPECT_TRUE(at::equal(u_fast.grad(), u_ref.grad())) << shape[1];
  }
}

// The experts' fp32 += bf16 gradient add (kernels/add_into_fp32.cu) equals
// ATen's mixed-dtype add_ bit for bit: each sum is one fp32 add of exact
// conversions. What the kernel does not take (a tail of 8, a strided view)
// is refused, for the caller's ATen fallback.
TEST(GpuFastPaths, AddIntoFp32KernelEqualsAtenAddBitwise) {
  SKIP_WITHOUT_CUDA();
#ifdef HETERO_WITH_CUDA
  torch::manual_seed(6);
  const auto f = at::TensorOptions().device(kGpu);
  at::Tensor into = torch::randn({128, 37, 24}, f) * 1e3;
  const at::Tensor add = torch::randn({128, 37, 24}, f).to(at::kBFloat16);
  const at::Tensor want = into.clone().add_(add);
  ASSERT_TRUE(add_into_fp32_kernel_supports(into, add));
  add_into_fp32_cuda(into, add);
  EXPECT_TRUE(at::equal(into, want));
  EXPECT_FALSE(add_into_fp32_kernel_supports(torch::zeros({5, 7}, f), torch::zeros({5, 7}, f).to(at::kBFloat16)));
  const at::Tensor wide = torch::zeros({16, 32}, f);
  EXPECT_FALSE(add_into_fp32_kernel_supports(wide.narrow(1, 0, 16), torch::zeros({16, 16}, f).to(at::kBFloat16)));
  EXPECT_THROW(add_into_fp32_cuda(into, add.to(at::kFloat)), c10::Error);
#else
  GTEST_SKIP() << "built without CUDA kernels";
#endif
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

TEST(GpuFastPaths, GroupedBf16SsdScanTakesXChunked) {
  // The mixer's route: x's strided [b, l, g, hg * p] rows chunked once
  // (ssd_chunked_x), read by the fused ops through their strides.
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(12);
  const auto f = at::TensorOptions().device(kGpu);
  const int64_t b = 2, l = 300, g = 2, hg = 4, h = g * hg, p = 64, n = 32, chunk = 64;
  const at::Tensor wide = torch::randn({b, l, g, hg * p + 2 * n}, f).to(at::kBFloat16);
  const at::Tensor rows = wide.narrow(3, 0, hg * p).detach().set_requires_grad(true);
  const at::Tensor by_step = rows.detach().reshape({b, l, h, p}).set_requires_grad(true);
  const at::Tensor dt = torch::nn::functional::softplus(torch::randn({b, l, h}, f) - 2).set_requires_grad(true);
  const at::Tensor A = (-torch::rand({h}, f) * 2 - 0.1).set_requires_grad(true);
  const at::Tensor B = torch::randn({b, l, g, n}, f).to(at::kBFloat16).set_requires_grad(true);
  const at::Tensor C = torch::randn({b, l, g, n}, f).to(at::kBFloat16).set_requires_grad(true);
  const at::Tensor D = torch::rand({h}, f) + 0.5;
  const at::Tensor want = ssd_chunked_scan_grouped(by_step, dt, A, B, C, chunk, D);
  const at::Tensor got = ssd_chunked_scan_grouped(ssd_chunked_x(rows, p, chunk), dt, A, B, C, chunk, D).narrow(1, 0, l);
  expect_bf16_close(got, want, "y");
  const at::Tensor w = torch::randn({b, l, h, p}, f);
  const auto want_grads = torch::autograd::grad({(want * w).sum()}, {by_step, dt, A, B, C});
  const auto got_grads = torch::autograd::grad({(got * w).sum()}, {rows, dt, A, B, C});
  expect_bf16_close(got_grads[0].reshape({b, l, h, p}), want_grads[0], "dx");
  const char* names[] = {"dx", "ddt", "dA", "dB", "dC"};
  for (size_t i = 1; i < want_grads.size(); ++i) expect_bf16_close(got_grads[i], want_grads[i], names[i]);
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

// fp32 closeness to rounding: max error within rtol of the reference's largest magnitude.
void expect_fp32_close(const at::Tensor& got, const at::Tensor& want, double rtol, const std::string& what) {
  const at::Tensor a = got.detach().to(at::kCPU, at::kDouble), b = want.detach().to(at::kCPU, at::kDouble);
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  const double scale = std::max(b.abs().max().item<double>(), 1e-30), err = (a - b).abs().max().item<double>();
  EXPECT_LE(err, rtol * scale) << what << ": max error " << err << " vs scale " << scale;
}

// A leaf on the GPU with t's values.
at::Tensor gpu_leaf(const at::Tensor& t) { return t.detach().to(kGpu).set_requires_grad(true); }

// The chunked cross-entropy's fused kernels (bf16 and fp16) against its
// ATen reference path on the same GPU: a vocabulary of odd width (rows off
// the 16-byte grid; d_logits rows aligned unlike the logits' in some chunks)
// and one of a multiple of 8, chunk sizes that do not divide the tokens,
// masked tokens, labels at the first and last columns. Both paths share the
// matmuls, so they differ only by the softmax's rounding.
TEST(GpuFastPaths, FusedCrossEntropyMatchesTheAtenPath) {
  SKIP_WITHOUT_CUDA();
  const auto f = at::TensorOptions().device(kGpu);
  const int64_t tokens = 1000, hidden = 128;
  const Group one = test::single_group();
  for (const at::ScalarType dtype : {at::kBFloat16, at::kHalf}) {
    for (const int64_t vocab : {int64_t{50003}, int64_t{16384}}) {
      torch::manual_seed(vocab);
      const at::Tensor h0 = torch::randn({tokens, hidden}, f).to(dtype);
      const at::Tensor w0 = torch::randn({vocab, hidden}, f) * 0.05;
      at::Tensor labels = torch::randint(0, vocab, {tokens}, f.dtype(at::kLong));
      at::Tensor mask = (torch::rand({tokens}, f) > 0.2).to(at::kFloat);
      // Labels at the first and last columns, counted and masked.
      const int64_t edge_labels[] = {0, vocab - 1, vocab - 1, 0};
      const double edge_mask[] = {1.0, 1.0, 0.0, 0.0};
      for (int i = 0; i < 4; ++i) {
        labels[i] = edge_labels[i];
        mask[i] = edge_mask[i];
      }
      for (const int64_t chunk : {int64_t{128}, int64_t{333}}) {
        // Two microbatches, so that the weight's gradient is also added to
        // an existing one; with weight_grad_in_gemm its GEMM does that.
        auto run = [&](bool fused, bool weight_grad_in_gemm) {
          const at::Tensor h = h0.clone().set_requires_grad(true), w = w0.clone().set_requires_grad(true);
          at::Tensor loss;
          for (const double scale : {0.7, 0.3}) {
            loss = vocab_parallel_cross_entropy_sum(h, w, labels, mask, one, chunk, {}, fused, weight_grad_in_gemm);
            (loss * scale).backward();
          }
          return std::vector<at::Tensor>{loss.detach(), h.grad(), w.grad()};
        };
        const auto reference = run(false, false);
        for (const bool in_gemm : {false, true}) {
          const auto fused = run(true, in_gemm);
          const std::string at_shape = std::string(dtype == at::kHalf ? " fp16" : " bf16") + " at vocab=" +
                                       std::to_string(vocab) + " chunk=" + std::to_string(chunk) +
                                       (in_gemm ? " weight grad in its GEMM" : "");
          const double loss = reference[0].item<double>();
          EXPECT_LE(std::abs(fused[0].item<double>() - loss), 1e-4 * std::abs(loss)) << "loss" + at_shape;
          expect_fp32_close(fused[1], reference[1], 1e-2, "d hidden" + at_shape);
          expect_fp32_close(fused[2], reference[2], 1e-2, "d weight" + at_shape);
        }
      }
    }
  }
}

// The cross-entropy kernels on their own against fp64 math on the CPU: the
// row stats exactly (max, target) and to fp32 rounding (sum of exp), the
// gradient to bf16/fp16 rounding; logits rows off the 16-byte grid with a
// row stride wider than the row, rows shorter than one 8-element pack, the
// production width 131072; labels in other shards, at column 0 and at the
// last column; a d_logits laid out like the logits (written directly) and
// one that is not (written over the logits, then copied).
TEST(GpuFastPaths, CrossEntropyKernelsMatchFp64) {
  SKIP_WITHOUT_CUDA();
#ifndef HETERO_WITH_CUDA
  GTEST_SKIP() << "built without CUDA kernels";
#else
  struct Shape {
    int64_t rows, cols, pad, offset;  // the logits: [rows, cols + pad] narrowed to columns [offset, offset + cols)
  };
  const Shape shapes[] = {{7, 50003, 9, 1}, {33, 131072, 0, 0}, {3, 5, 3, 3}, {1, 1, 0, 0}, {5, 1000, 8, 7}};
  const int64_t start = 100;  // this shard's first global id
  for (const at::ScalarType dtype : {at::kBFloat16, at::kHalf}) {
    for (const Shape& s : shapes) {
      const std::string at_shape = std::string(dtype == at::kHalf ? " fp16" : " bf16") + " at rows=" +
                                   std::to_string(s.rows) + " cols=" + std::to_string(s.cols) +
                                   " offset=" + std::to_string(s.offset);
      torch::manual_seed(s.rows + s.cols);
      const at::Tensor wide = (torch::randn({s.rows, s.cols + s.pad}) * 4).to(dtype).to(kGpu);
      const at::Tensor logits = wide.narrow(1, s.offset, s.cols);
      at::Tensor labels = torch::randint(0, s.cols + 2 * start, {s.rows}, at::kLong);  // some outside the shard
      labels[0] = start;
      if (s.rows > 1) labels[s.rows - 1] = start + s.cols - 1;
      const at::Tensor mask = (torch::rand({s.rows}) > 0.3).to(at::kFloat);
      const at::Tensor labels_gpu = labels.to(kGpu), mask_gpu = mask.to(kGpu);

      const at::Tensor x = logits.to(at::kCPU, at::kDouble);
      const at::Tensor local = labels - start, mine = local.ge(0).logical_and(local.lt(s.cols));
      const at::Tensor want_max = std::get<0>(x.max(-1));
      const at::Tensor e = at::exp(x - want_max.unsqueeze(-1));
      const at::Tensor want_sum = e.sum(-1);
      const at::Tensor want_target =
          x.gather(-1, local.clamp(0, s.cols - 1).unsqueeze(-1)).squeeze(-1) * mine.to(at::kDouble);
      const CrossEntropyRowStats stats = cross_entropy_row_stats_cuda(logits, labels_gpu, start);
      ASSERT_EQ(stats.max.numel(), s.rows);
      ASSERT_EQ(stats.sums.size(0), 2);
      ASSERT_EQ(stats.sums.size(1), s.rows);
      expect_fp32_close(stats.max, want_max, 0.0, "max" + at_shape);
      expect_fp32_close(stats.sums[0], want_sum, 1e-5, "sum of exp" + at_shape);
      expect_fp32_close(stats.sums[1], want_target, 0.0, "target" + at_shape);

      // The gradient from the kernel's own stats (one shard: they are the global ones).
      const at::Tensor m = mask.to(at::kDouble).unsqueeze(-1);
      const at::Tensor one_hot = at::zeros_like(x).scatter_(-1, local.clamp(0, s.cols - 1).unsqueeze(-1),
                                                           mine.to(at::kDouble).unsqueeze(-1));
      const at::Tensor want_grad = e / want_sum.unsqueeze(-1) * m - one_hot * m;
      const at::Tensor sum = stats.sums[0];
      const at::Tensor before = logits.clone();
      // Like the logits: same offset from the 16-byte grid, same row stride.
      const at::Tensor alike = at::empty_like(wide).narrow(1, s.offset, s.cols);
      cross_entropy_logit_grad_cuda(logits, alike, labels_gpu, start, stats.max, sum, mask_gpu);
      EXPECT_TRUE(at::equal(logits, before)) << "logits written through a direct d_logits" << at_shape;
      expect_fp32_close(alike, want_grad, 1e-2, "d logits (direct)" + at_shape);
      // Contiguous: unlike the logits unless the offsets happen to agree.
      const at::Tensor dense = at::empty({s.rows, s.cols}, logits.options());
      cross_entropy_logit_grad_cuda(logits, dense, labels_gpu, start, stats.max, sum, mask_gpu);
      expect_fp32_close(dense, want_grad, 1e-2, "d logits (dense)" + at_shape);
      EXPECT_TRUE(at::equal(dense, alike)) << "the two layouts' gradients" << at_shape;
    }
  }
#endif
}

// The fused chunk scores on the GPU (fp32 and bf16 output, so the backward
// takes fp32 and bf16 d_scores) against the ATen expression's autograd on
// the CPU, on odd shapes (q = 100, 37, 7, 5: not multiples of 8 or 16, the
// backward's scalar path; q = 200: several row tiles and a partial one;
// hg = 3; the limits q = 256 and hg = 64) and the production shape. Then
// the backward kernels directly: two runs bitwise identical (no atomics),
// and their time per call at the 20L shape (groups 256, hg 16, q 128, bf16).
TEST(GpuFastPaths, ChunkScoresKernelMatchesTheReference) {
  SKIP_WITHOUT_CUDA();
  struct Shape {
    int64_t b, c, g, hg, q;
  };
  const Shape shapes[] = {{1, 2, 3, 3, 7},  {2, 1, 2, 1, 5},     {1, 2, 2, 5, 200},  {1, 3, 1, 3, 100},
                          {2, 1, 2, 3, 37}, {1, 1, 2, 3, 128},   {1, 1, 1, 64, 256}, {1, 4, 8, 16, 128}};
  for (const Shape& s : shapes) {
    const std::string at_shape = " at b=" + std::to_string(s.b) + " c=" + std::to_string(s.c) + " g=" +
                                 std::to_string(s.g) + " hg=" + std::to_string(s.hg) + " q=" + std::to_string(s.q);
    torch::manual_seed(s.q + s.hg);
    const ChunkScoreInputs cpu = chunk_score_inputs(s.b, s.c, s.g, s.hg, s.q);
    const at::Tensor reference = chunk_scores_reference(cpu.cb, cpu.a_cum, cpu.dt);
    const at::Tensor direction = torch::randn(reference.sizes());
    const std::vector<at::Tensor> cpu_leaves{cpu.cb, cpu.a_cum, cpu.dt};
    const variable_list want = torch::autograd::grad({(reference * direction).sum()}, cpu_leaves);
    const char* names[] = {"d CB", "d a_cum", "d dt"};
    for (const at::ScalarType out : {at::kFloat, at::kBFloat16}) {
      const std::vector<at::Tensor> leaves{gpu_leaf(cpu.cb), gpu_leaf(cpu.a_cum), gpu_leaf(cpu.dt)};
      const at::Tensor scores = chunk_scores(leaves[0], leaves[1], leaves[2], out);
      ASSERT_TRUE(scores.is_cuda());
      ASSERT_EQ(scores.scalar_type(), out);
      const variable_list got =
          torch::autograd::grad({(scores.to(at::kFloat) * direction.to(kGpu)).sum()}, leaves);
      if (out == at::kFloat) {
        expect_fp32_close(scores, reference, 1e-5, "scores" + at_shape);
        for (size_t i = 0; i < got.size(); ++i) expect_fp32_close(got[i], want[i], 1e-5, names[i] + at_shape);
      } else {
        expect_bf16_close(scores, reference, "bf16 scores" + at_shape);
        for (size_t i = 0; i < got.size(); ++i) expect_bf16_close(got[i], want[i], names[i] + (" bf16" + at_shape));
      }
    }
  }
#ifdef HETERO_WITH_CUDA
  // Determinism: the same inputs twice give the same bits (odd shapes, both
  // d_scores types, and the 20L shape, whose timing follows).
  const Shape repeat[] = {{1, 3, 1, 3, 100}, {2, 1, 2, 3, 37}, {1, 32, 8, 16, 128}};
  for (const Shape& s : repeat) {
    const ChunkScoreInputs in = chunk_score_inputs(s.b, s.c, s.g, s.hg, s.q, at::TensorOptions().device(kGpu));
    const at::Tensor cb = in.cb.detach(), a_cum = in.a_cum.detach(), dt = in.dt.detach();
    for (const at::ScalarType type : {at::kFloat, at::kBFloat16}) {
      const at::Tensor d_scores = torch::randn({s.b, s.c, s.g, s.hg, s.q, s.q}, at::TensorOptions().device(kGpu)).to(type);
      const auto first = chunk_scores_backward_cuda(d_scores, cb, a_cum, dt);
      const auto second = chunk_scores_backward_cuda(d_scores, cb, a_cum, dt);
      const std::string what = std::string(type == at::kFloat ? "fp32" : "bf16") + " at hg=" + std::to_string(s.hg) +
                               " q=" + std::to_string(s.q);
      EXPECT_TRUE(at::equal(std::get<0>(first), std::get<0>(second))) << "d CB differs between runs, " << what;
      EXPECT_TRUE(at::equal(std::get<1>(first), std::get<1>(second))) << "d a_cum differs between runs, " << what;
      EXPECT_TRUE(at::equal(std::get<2>(first), std::get<2>(second))) << "d dt differs between runs, " << what;
      if (s.c == 32 && type == at::kBFloat16) {  // the 20L shape: 4096 tokens / q = 128, 8 groups of 16 heads
        constexpr int kCalls = 50;
        at::cuda::CUDAEvent start(cudaEventDefault), stop(cudaEventDefault);
        start.record();
        for (int i = 0; i < kCalls; ++i) chunk_scores_backward_cuda(d_scores, cb, a_cum, dt);
        stop.record();
        stop.synchronize();
        std::printf("chunk_scores backward (groups 256, hg 16, q 128, bf16 d_scores): %.4f ms per call\n",
                    start.elapsed_time(stop) / kCalls);
      }
    }
  }
#endif
}

// The fused gated RMSNorm on the GPU against the ATen expression's autograd
// on the CPU: a strided gate (a narrow, as the mixer passes it), fp32 and
// bf16 gate and output, rows of 1 to 1024 channels, more than one block of
// tokens in the dw reduction.
TEST(GpuFastPaths, GatedRmsNormKernelMatchesTheReference) {
  SKIP_WITHOUT_CUDA();
  struct Shape {
    int64_t tokens, groups, n;
  };
  const Shape shapes[] = {{7, 2, 8}, {5, 1, 33}, {3, 3, 3}, {101, 3, 1000}, {64, 8, 1024}};
  const double eps = 1e-5;
  for (const Shape& s : shapes) {
    for (const at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
      const std::string at_shape = std::string(dtype == at::kFloat ? " fp32" : " bf16") + " at T=" +
                                   std::to_string(s.tokens) + " groups=" + std::to_string(s.groups) +
                                   " n=" + std::to_string(s.n);
      torch::manual_seed(s.tokens + s.n);
      const at::Tensor y = torch::randn({s.tokens, s.groups * s.n}).set_requires_grad(true);
      const at::Tensor proj = torch::randn({s.tokens, s.groups, s.n + 5}).to(dtype);
      const at::Tensor z = proj.narrow(2, 2, s.n).detach().set_requires_grad(true);  // [T, groups, n], strided
      const at::Tensor w = (torch::rand({s.groups * s.n}) + 0.5).set_requires_grad(true);
      // The CPU reference on the same (rounded) gate values, its output rounded like the kernel's.
      const at::Tensor reference = gated_rms_norm_reference(y, z, w, s.groups, eps).to(dtype);
      const at::Tensor direction = torch::randn(reference.sizes());
      const variable_list want = torch::autograd::grad({(reference.to(at::kFloat) * direction).sum()}, {y, z, w});

      const at::Tensor y_gpu = gpu_leaf(y), w_gpu = gpu_leaf(w);
      const at::Tensor z_gpu = proj.to(kGpu).narrow(2, 2, s.n).detach().set_requires_grad(true);
      ASSERT_NE(z_gpu.stride(0), s.groups * s.n);
      const at::Tensor out = gated_rms_norm(y_gpu, z_gpu, w_gpu, s.groups, eps, dtype);
      ASSERT_TRUE(out.is_cuda());
      ASSERT_EQ(out.scalar_type(), dtype);
      const variable_list got =
          torch::autograd::grad({(out.to(at::kFloat) * direction.to(kGpu)).sum()}, {y_gpu, z_gpu, w_gpu});
      ASSERT_EQ(got[1].scalar_type(), dtype);
      const char* names[] = {"dy", "dz", "dw"};
      if (dtype == at::kFloat) {
        expect_fp32_close(out, reference, 1e-5, "out" + at_shape);
        for (size_t i = 0; i < got.size(); ++i) expect_fp32_close(got[i], want[i], 1e-5, names[i] + at_shape);
      } else {
        expect_bf16_close(out, reference, "out" + at_shape);
        for (size_t i = 0; i < got.size(); ++i) expect_bf16_close(got[i], want[i], names[i] + at_shape);
      }
    }
  }
}

// The Mamba mixer's two memory-bound backward kernels at the 20L recipe's
// shape (4096 tokens, 8 groups: z 1024 channels and x B C 1280 per group,
// read in place from the in_proj output as the mixer does, their gradients
// written into a like-strided buffer): the same inputs twice give the same
// bits (no float atomics), and each prints its time and achieved bandwidth
// for the benchmark's per-kernel picture.
TEST(GpuFastPaths, MambaNormAndConvBackwardAreDeterministicAtThe20lShape) {
  SKIP_WITHOUT_CUDA();
#ifdef HETERO_WITH_CUDA
  const int64_t tokens = 4096, groups = 8, zw = 1024, cw = 1280, width = zw + cw + 16;
  const auto f = at::TensorOptions().device(kGpu);
  torch::manual_seed(21);
  const at::Tensor proj = torch::randn({tokens, groups, width}, f).to(at::kBFloat16);
  const at::Tensor grad_buffer = at::empty_like(proj);
  const at::Tensor z = proj.narrow(2, 0, zw), x = proj.narrow(2, zw, cw);
  const at::Tensor y = torch::randn({tokens, groups * zw}, f), w = torch::rand({groups * zw}, f) + 0.5;
  const at::Tensor rstd = std::get<1>(gated_rms_norm_cuda(y, z, w, 1e-5, at::kBFloat16));
  const at::Tensor d_norm = torch::randn({tokens, groups * zw}, f).to(at::kBFloat16);
  const at::Tensor conv_w = torch::randn({groups * cw, 1, 4}, f) * 0.5, conv_b = torch::randn({groups * cw}, f) * 0.1;
  const at::Tensor cu = torch::tensor({int64_t{0}, int64_t{1000}, tokens}, f.dtype(at::kLong));
  const at::Tensor d_conv = torch::randn({tokens, groups * cw}, f).to(at::kBFloat16);
  const auto norm = [&] {
    return gated_rms_norm_backward_cuda(d_norm, y, z, w, rstd, grad_buffer.narrow(2, 0, zw));
  };
  const auto conv = [&] {
    return causal_conv1d_silu_backward_cuda(d_conv, x, conv_w, conv_b, cu, grad_buffer.narrow(2, zw, cw));
  };
  const auto n1 = norm();
  const at::Tensor dz1 = std::get<1>(n1).clone();
  const auto n2 = norm();
  EXPECT_TRUE(at::equal(std::get<0>(n1), std::get<0>(n2))) << "dy differs between runs";
  EXPECT_TRUE(at::equal(dz1, std::get<1>(n2))) << "dz differs between runs";
  EXPECT_TRUE(at::equal(std::get<2>(n1), std::get<2>(n2))) << "dw differs between runs";
  const auto c1 = conv();
  const at::Tensor dx1 = std::get<0>(c1).clone();
  const auto c2 = conv();
  EXPECT_TRUE(at::equal(dx1, std::get<0>(c2))) << "conv dx differs between runs";
  EXPECT_TRUE(at::equal(std::get<1>(c1), std::get<1>(c2))) << "conv dw differs between runs";
  EXPECT_TRUE(at::equal(std::get<2>(c1), std::get<2>(c2))) << "conv db differs between runs";
  // Bytes each call must move at least: norm reads d_out (bf16), y (fp32), z
  // (bf16), writes dy (fp32), dz (bf16); conv reads d_out and x, writes dx (bf16).
  const double elems_norm = static_cast<double>(tokens * groups * zw);
  const double elems_conv = static_cast<double>(tokens * groups * cw);
  const auto time_ms = [](const auto& call) {
    constexpr int kCalls = 20;
    at::cuda::CUDAEvent start(cudaEventDefault), stop(cudaEventDefault);
    start.record();
    for (int i = 0; i < kCalls; ++i) call();
    stop.record();
    stop.synchronize();
    return start.elapsed_time(stop) / kCalls;
  };
  const double norm_ms = time_ms(norm), conv_ms = time_ms(conv);
  std::printf("gated_rms_norm backward [4096, 8, 1024] bf16 gate: %.4f ms per call, %.2f TB/s\n", norm_ms,
              elems_norm * 14 / (norm_ms * 1e-3) / 1e12);
  std::printf("causal_conv1d backward [4096, 8, 1280] bf16, K 4: %.4f ms per call, %.2f TB/s\n", conv_ms,
              elems_conv * 6 / (conv_ms * 1e-3) / 1e12);
#endif
}

// The LLM's RMSNorm through the gate-less kernels against rms_norm's ATen
// expression on the CPU: odd widths, one row, the 20L recipe's 4096 (the
// widest row the registers hold) with enough tokens for a multi-block dw
// reduction; fp32 and bf16 out (dx and dw stay fp32).
TEST(GpuFastPaths, RmsNormKernelMatchesTheAtenRmsNorm) {
  SKIP_WITHOUT_CUDA();
  const std::vector<int64_t> shapes[] = {{1, 1, 8}, {1, 7, 33}, {2, 5, 1000}, {1, 3000, 4096}, {2, 257, 2688}};
  for (const auto& shape : shapes) {
    for (const at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
      const std::string at_shape = std::string(dtype == at::kFloat ? " fp32" : " bf16") + " at [" +
                                   std::to_string(shape[0]) + ", " + std::to_string(shape[1]) + ", " +
                                   std::to_string(shape[2]) + "]";
      torch::manual_seed(shape[1] + shape[2]);
      const at::Tensor x = (torch::randn(shape) * 2).set_requires_grad(true);
      const at::Tensor w = (torch::rand({shape[2]}) + 0.5).set_requires_grad(true);
      const at::Tensor reference = rms_norm(x, w, 1e-5).to(dtype);
      const at::Tensor direction = torch::randn(shape);
      const variable_list want = torch::autograd::grad({(reference.to(at::kFloat) * direction).sum()}, {x, w});
      const at::Tensor x_gpu = gpu_leaf(x), w_gpu = gpu_leaf(w);
      ASSERT_TRUE(rms_norm_fused_supported(x_gpu));
      const at::Tensor out = rms_norm_fused(x_gpu, w_gpu, 1e-5, dtype);
      ASSERT_EQ(out.scalar_type(), dtype);
      ASSERT_EQ(out.sizes(), x.sizes());
      const variable_list got = torch::autograd::grad({(out.to(at::kFloat) * direction.to(kGpu)).sum()}, {x_gpu, w_gpu});
      ASSERT_EQ(got[0].scalar_type(), at::kFloat);
      if (dtype == at::kFloat) {
        expect_fp32_close(out, reference, 1e-5, "out" + at_shape);
      } else {
        expect_bf16_close(out, reference, "out" + at_shape);
      }
      // The gradients are fp32 either way; from a bf16 output they start from the same bf16-rounded
      // direction on both sides, so the fp32 tolerance holds for both.
      expect_fp32_close(got[0], want[0], 1e-5, "dx" + at_shape);
      expect_fp32_close(got[1], want[1], 1e-5, "dw" + at_shape);
    }
  }
}

TEST(GpuFastPaths, GeluBackwardKernelMatchesAten) {
  SKIP_WITHOUT_CUDA();
  // An odd row count, and the encoder MLP's [5808 tokens, 5120] (C-RADIO-H at 704 px).
  for (const int64_t rows : {37, 5808}) {
    torch::manual_seed(rows);
    const at::Tensor u = (torch::randn({rows, 5120}, at::TensorOptions().device(kGpu)) * 3).to(at::kBFloat16);
    const at::Tensor dh = torch::randn({rows, 5120}, at::TensorOptions().device(kGpu)).to(at::kBFloat16);
    ASSERT_TRUE(gelu_backward_kernel_supports(dh, u));
    const GeluBackward r = gelu_backward_with_activation(dh, u);
    ASSERT_TRUE(r.du.is_cuda());
    ASSERT_EQ(r.du.scalar_type(), at::kBFloat16);
    const std::string at_rows = " at rows=" + std::to_string(rows);
    expect_bf16_close(r.du, at::gelu_backward(dh.to(at::kFloat), u.to(at::kFloat)), "du" + at_rows);
    expect_bf16_close(r.h, at::gelu(u.to(at::kFloat)), "h" + at_rows);
  }
  // A view off the 16-byte grid goes to ATen instead.
  const at::Tensor flat = torch::randn({8 * 65}, at::TensorOptions().device(kGpu)).to(at::kBFloat16);
  EXPECT_FALSE(gelu_backward_kernel_supports(flat.narrow(0, 1, 512), flat.narrow(0, 1, 512)));
}

TEST(GpuFastPaths, FusedAdamWStepMatchesTheAtenOps) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(5);
  const int64_t n = 3 * 1024 * 1024 + 7;
  at::Tensor w = torch::randn({n}), m = at::zeros({n}), v = at::zeros({n});
  at::Tensor wg = w.to(kGpu), mg = m.to(kGpu), vg = v.to(kGpu);
  const at::Tensor mask = torch::rand({n}) > 0.3;
  const at::Tensor mask_gpu = mask.to(kGpu);
  ASSERT_TRUE(adamw_step_fusable(wg, wg, mg, vg));
  for (int step = 1; step <= 3; ++step) {
    const at::Tensor g = torch::randn({n});
    AdamWStepConfig c;
    c.lr = 3e-3;
    c.beta2 = 0.95;
    c.step = step;
    c.decay = 1.0 - 3e-3 * 0.1;
    adamw_step_reference(w, g, m, v, mask, c);
    adamw_step(wg, g.to(kGpu), mg, vg, mask_gpu, c);
  }
  expect_fp32_close(wg, w, 1e-5, "w");
  expect_fp32_close(mg, m, 1e-5, "exp_avg");
  expect_fp32_close(vg, v, 1e-5, "exp_avg_sq");
}

TEST(GpuFastPaths, GradientStatisticsMatchTheCpu) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(6);
  const Group one = test::single_group();
  std::vector<Param> cpu, gpu;
  for (const int64_t n : {5, 4096 * 1024 + 3}) {
    at::Tensor g = torch::randn({n}) * 1e-2;
    g.narrow(0, 0, 3).zero_();  // zeros are counted
    for (std::vector<Param>* params : {&cpu, &gpu}) {
      Param p;
      p.value = at::zeros({n}, at::TensorOptions().device(params == &gpu ? kGpu : at::kCPU)).set_requires_grad(true);
      p.value.mutable_grad() = g.to(p.value.device());
      params->push_back(p);
    }
  }
  const at::Tensor want = local_grad_stats(cpu, one, one, at::kCPU);
  const at::Tensor got = local_grad_stats(gpu, one, one, kGpu);
  ASSERT_TRUE(got.is_cuda());
  expect_fp32_close(got.narrow(0, 0, 1), want.narrow(0, 0, 1), 1e-5, "sum of squares");
  EXPECT_EQ(got[1].item<double>(), want[1].item<double>());
  EXPECT_GE(want[1].item<double>(), 6);
}

// The fused residual add + LayerNorm on the GPU against the ATen expression's
// autograd in fp32 on the CPU (x + a, at::layer_norm), through a loss on both
// h and y (so the backward adds a residual gradient): fp32 and bf16 rows of
// 8 to 4096 channels, odd token counts, more than one block of rows in the
// gamma/beta reduction, and the C-RADIO-H step (5,808 tokens, H = 1280).
// Shapes the kernels do not take are refused, so callers keep the ATen ops.
TEST(GpuFastPaths, AddLayerNormKernelMatchesTheReference) {
  SKIP_WITHOUT_CUDA();
  struct Shape {
    int64_t tokens, n;
  };
  const Shape shapes[] = {{7, 8}, {1, 24}, {33, 24}, {1001, 1280}, {5808, 1280}, {3, 4096}};
  const double eps = 1e-6;
  for (const Shape& s : shapes) {
    for (const at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
      const std::string at_shape = std::string(dtype == at::kFloat ? " fp32" : " bf16") + " at T=" +
                                   std::to_string(s.tokens) + " H=" + std::to_string(s.n);
      torch::manual_seed(s.tokens + s.n);
      // The inputs rounded to dtype, then fp32 leaves of the CPU reference.
      const at::Tensor x = (torch::randn({s.tokens, s.n}) + 0.5).to(dtype).to(at::kFloat).set_requires_grad(true);
      const at::Tensor a = torch::randn({s.tokens, s.n}).to(dtype).to(at::kFloat).set_requires_grad(true);
      const at::Tensor gamma = (torch::rand({s.n}) + 0.5).set_requires_grad(true);
      const at::Tensor beta = torch::randn({s.n}).set_requires_grad(true);
      const at::Tensor h = x + a;
      const at::Tensor y = at::layer_norm(h, {s.n}, gamma, beta, eps);
      const at::Tensor dir_h = torch::randn({s.tokens, s.n}), dir_y = torch::randn({s.tokens, s.n});
      const variable_list want = torch::autograd::grad({(h * dir_h).sum() + (y * dir_y).sum()}, {x, a, gamma, beta});

      const at::Tensor x_gpu = x.detach().to(kGpu, dtype).set_requires_grad(true);
      const at::Tensor a_gpu = a.detach().to(kGpu, dtype).set_requires_grad(true);
      const at::Tensor gamma_gpu = gpu_leaf(gamma), beta_gpu = gpu_leaf(beta);
      ASSERT_TRUE(add_layer_norm_supported(x_gpu)) << at_shape;
      const AddLayerNorm out = add_layer_norm(x_gpu, a_gpu, gamma_gpu, beta_gpu, eps);
      ASSERT_TRUE(out.h.is_cuda() && out.y.is_cuda());
      ASSERT_EQ(out.h.scalar_type(), dtype);
      ASSERT_EQ(out.y.scalar_type(), dtype);
      const at::Tensor gpu_loss =
          (out.h.to(at::kFloat) * dir_h.to(kGpu)).sum() + (out.y.to(at::kFloat) * dir_y.to(kGpu)).sum();
      const variable_list got = torch::autograd::grad({gpu_loss}, {x_gpu, a_gpu, gamma_gpu, beta_gpu});
      ASSERT_EQ(got[0].scalar_type(), dtype);
      ASSERT_EQ(got[2].scalar_type(), at::kFloat);
      const char* names[] = {"dx", "da", "d gamma", "d beta"};
      if (dtype == at::kFloat) {
        expect_fp32_close(out.h, h, 1e-5, "h" + at_shape);
        expect_fp32_close(out.y, y, 1e-5, "y" + at_shape);
        for (size_t i = 0; i < got.size(); ++i) expect_fp32_close(got[i], want[i], 1e-5, names[i] + at_shape);
      } else {
        expect_bf16_close(out.h, h, "h" + at_shape);
        expect_bf16_close(out.y, y, "y" + at_shape);
        for (size_t i = 0; i < got.size(); ++i) expect_bf16_close(got[i], want[i], names[i] + at_shape);
      }
    }
  }
  const at::TensorOptions bf16 = at::TensorOptions().device(kGpu).dtype(at::kBFloat16);
  for (const int64_t n : {12, 4104}) {
    const at::Tensor x = torch::randn({4, n}, bf16), w = torch::ones({n}, bf16.dtype(at::kFloat));
    EXPECT_FALSE(add_layer_norm_supported(x)) << "H=" << n;
    EXPECT_THROW(add_layer_norm(x, x, w, w, eps), c10::Error) << "H=" << n;
  }
}

TEST(GpuFastPaths, SsdOutputKernelMatchesTheReference) {
  SKIP_WITHOUT_CUDA();
  struct Shape {
    int64_t b, c, g, hg, q, p, l;
  };
  // Odd, a padded last chunk, and the 20L mixer's (4096 tokens, 8 groups x 16 heads of 64, chunk 128).
  const Shape shapes[] = {{2, 3, 2, 3, 4, 5, 10}, {1, 2, 1, 2, 8, 33, 16}, {1, 32, 8, 16, 128, 64, 4096},
                          {1, 32, 8, 16, 128, 64, 4001}};
  for (const Shape& s : shapes) {
    for (const at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
      const std::string at_shape = std::string(dtype == at::kFloat ? " fp32" : " bf16") + " at c=" +
                                   std::to_string(s.c) + " p=" + std::to_string(s.p) + " l=" + std::to_string(s.l);
      torch::manual_seed(s.l);
      const SsdOutputInputs in = ssd_output_inputs(s.b, s.c, s.g, s.hg, s.q, s.p, s.l, true);
      auto rounded = [&](const at::Tensor& t) { return t.detach().to(dtype).set_requires_grad(true); };
      const at::Tensor yi = rounded(in.y_intra), yr = rounded(in.y_inter), x = rounded(in.x);
      const at::Tensor want = ssd_chunk_output_reference(yi, yr, in.a_cum, x, in.D);
      const at::Tensor direction = torch::randn(want.sizes());
      const variable_list want_grads =
          torch::autograd::grad({(want * direction).sum()}, {yi, yr, in.a_cum, x, in.D});

      const variable_list leaves{gpu_leaf(yi), gpu_leaf(yr), gpu_leaf(in.a_cum), gpu_leaf(x), gpu_leaf(in.D)};
      const at::Tensor got = ssd_chunk_output(leaves[0], leaves[1], leaves[2], leaves[3], leaves[4]);
      ASSERT_TRUE(got.is_cuda());
      const variable_list got_grads = torch::autograd::grad({(got * direction.to(kGpu)).sum()}, leaves);
      const char* names[] = {"d_y_intra", "d_y_inter", "d_a_cum", "dx", "dD"};
      if (dtype == at::kFloat) {
        expect_fp32_close(got, want, 1e-5, "y" + at_shape);
        for (size_t i = 0; i < got_grads.size(); ++i)
          expect_fp32_close(got_grads[i], want_grads[i], 1e-5, names[i] + at_shape);
      } else {
        expect_bf16_close(got, want, "y" + at_shape);
        for (size_t i = 0; i < got_grads.size(); ++i) expect_bf16_close(got_grads[i], want_grads[i], names[i] + at_shape);
      }
    }
  }
}

TEST(GpuFastPaths, SsdStateInputKernelMatchesTheReference) {
  SKIP_WITHOUT_CUDA();
  struct Shape {
    int64_t b, c, g, hg, q, p, l;
  };
  const Shape shapes[] = {{2, 3, 2, 3, 4, 5, 10}, {1, 32, 8, 16, 128, 64, 4096}, {1, 32, 8, 16, 128, 64, 4001}};
  for (const Shape& s : shapes) {
    for (const at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
      const std::string at_shape = std::string(dtype == at::kFloat ? " fp32" : " bf16") + " at c=" +
                                   std::to_string(s.c) + " l=" + std::to_string(s.l);
      torch::manual_seed(s.l + 1);
      const at::Tensor x = torch::randn({s.b, s.l, s.g * s.hg, s.p}).to(dtype).set_requires_grad(true);
      const at::Tensor to_end = torch::rand({s.b, s.c, s.g, s.hg, s.q}).set_requires_grad(true);
      const at::Tensor want = ssd_state_input_reference(x, to_end);
      const at::Tensor direction = torch::randn(want.sizes());
      const variable_list want_grads =
          torch::autograd::grad({(want.to(at::kFloat) * direction).sum()}, {x, to_end});
      const variable_list leaves{gpu_leaf(x), gpu_leaf(to_end)};
      const at::Tensor got = ssd_state_input(leaves[0], leaves[1]);
      ASSERT_TRUE(got.is_cuda());
      ASSERT_EQ(got.scalar_type(), dtype);
      const variable_list got_grads =
          torch::autograd::grad({(got.to(at::kFloat) * direction.to(kGpu)).sum()}, leaves);
      if (dtype == at::kFloat) {
        expect_fp32_close(got, want, 1e-5, "weighted" + at_shape);
        expect_fp32_close(got_grads[0], want_grads[0], 1e-5, "dx" + at_shape);
        expect_fp32_close(got_grads[1], want_grads[1], 1e-5, "d_to_end" + at_shape);
      } else {
        expect_bf16_close(got, want, "weighted" + at_shape);
        expect_bf16_close(got_grads[0], want_grads[0], "dx" + at_shape);
        expect_bf16_close(got_grads[1], want_grads[1], "d_to_end" + at_shape);
      }
    }
  }
}

// The state passing across chunks on the GPU against the masked-matmul
// reference on the CPU: odd shapes (one chunk; a width that is not a
// multiple of the backward's slice) and 20L's (32 chunks, 128 heads of
// 64 x 128 states), fp32 and bf16.
TEST(GpuFastPaths, SsdStatePassingKernelMatchesTheReference) {
  SKIP_WITHOUT_CUDA();
  struct Shape {
    int64_t b, c, g, m, hg, w;
  };
  // One head after another (one chunk; widths over a block's slice), a
  // group's heads side by side in rows of odd width, and the 20L scan's
  // [b, c, g, n, hg, p].
  const Shape shapes[] = {{1, 1, 2, 1, 1, 7}, {2, 5, 3, 1, 1, 1500}, {2, 3, 2, 3, 3, 37}, {1, 32, 8, 128, 16, 64}};
  for (const Shape& s : shapes) {
    for (const at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
      const std::string at_shape = std::string(dtype == at::kFloat ? " fp32" : " bf16") + " at c=" +
                                   std::to_string(s.c) + " g=" + std::to_string(s.g) + " m=" + std::to_string(s.m) +
                                   " hg=" + std::to_string(s.hg) + " w=" + std::to_string(s.w);
      torch::manual_seed(s.w + s.c);
      const at::Tensor own = torch::randn({s.b, s.c, s.g, s.m, s.hg, s.w}).to(dtype).set_requires_grad(true);
      const at::Tensor chunk_log = (-2 * torch::rand({s.b, s.c, s.g, s.hg})).set_requires_grad(true);
      const at::Tensor want = ssd_state_passing_reference(own, chunk_log);
      const at::Tensor direction = torch::randn(want.sizes());
      const variable_list want_grads =
          torch::autograd::grad({(want.to(at::kFloat) * direction).sum()}, {own, chunk_log});
      const variable_list leaves{gpu_leaf(own), gpu_leaf(chunk_log)};
      const at::Tensor got = ssd_state_passing(leaves[0], leaves[1]);
      ASSERT_TRUE(got.is_cuda());
      ASSERT_EQ(got.scalar_type(), dtype);
      const variable_list got_grads =
          torch::autograd::grad({(got.to(at::kFloat) * direction.to(kGpu)).sum()}, leaves);
      if (s.c == 1) {  // nothing enters the only chunk, and nothing flows back
        EXPECT_EQ(got.abs().max().item<double>(), 0) << at_shape;
        EXPECT_EQ(got_grads[0].abs().max().item<double>(), 0) << at_shape;
        continue;
      }
      if (dtype == at::kFloat) {
        expect_fp32_close(got, want, 1e-5, "entering" + at_shape);
        expect_fp32_close(got_grads[0], want_grads[0], 1e-5, "d own" + at_shape);
        expect_fp32_close(got_grads[1], want_grads[1], 1e-5, "d chunk_log" + at_shape);
      } else {
        expect_bf16_close(got, want, "entering" + at_shape);
        expect_bf16_close(got_grads[0], want_grads[0], "d own" + at_shape);
        expect_bf16_close(got_grads[1], want_grads[1], "d chunk_log" + at_shape);
      }
    }
  }
}

// The fused causal conv1d + SiLU on the GPU against the ATen expression's
// autograd on the CPU: x a strided narrow of a projection (as the mixer
// passes it), fp32 and bf16 input and output; sequences of 1 token, fewer
// than K and several backward tiles; K = 3 and 4; the scalar path (a width
// that is not a multiple of 8, a misaligned narrow) and the vector path; and
// the production shape (T = 4096, 8 groups of 1280 channels, K = 4) with one
// and three sequences.
TEST(GpuFastPaths, CausalConv1dKernelMatchesTheReference) {
  SKIP_WITHOUT_CUDA();
  struct Shape {
    std::vector<int64_t> cu_seqlens;
    int64_t groups, width, kernel, offset;  // x = proj.narrow(2, offset, width)
  };
  const Shape shapes[] = {{{0, 1, 3, 8, 10}, 2, 5, 4, 1},
                          {{0, 7, 8, 9, 200}, 3, 16, 3, 3},
                          {{0, 100, 101, 300}, 2, 64, 4, 8},
                          {{0, 4096}, 8, 1280, 4, 8},
                          {{0, 1000, 1001, 4096}, 8, 1280, 4, 8}};
  for (const Shape& s : shapes) {
    const int64_t tokens = s.cu_seqlens.back(), channels = s.groups * s.width;
    for (const at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
      const std::string at_shape = std::string(dtype == at::kFloat ? " fp32" : " bf16") + " at T=" +
                                   std::to_string(tokens) + " sequences=" + std::to_string(s.cu_seqlens.size() - 1) +
                                   " groups=" + std::to_string(s.groups) + " width=" + std::to_string(s.width) +
                                   " K=" + std::to_string(s.kernel) + " offset=" + std::to_string(s.offset);
      torch::manual_seed(tokens + s.width + s.kernel);
      const at::Tensor proj = torch::randn({tokens, s.groups, s.width + 16}).to(dtype).set_requires_grad(true);
      const at::Tensor weight = (torch::randn({channels, 1, s.kernel}) * 0.5).set_requires_grad(true);
      const at::Tensor bias = (torch::randn({channels}) * 0.1).set_requires_grad(true);
      // The CPU reference on the same (rounded) inputs, its output rounded like the kernel's.
      const at::Tensor reference =
          causal_conv1d_silu_reference(proj.narrow(2, s.offset, s.width), weight, bias, s.cu_seqlens).to(dtype);
      const at::Tensor direction = torch::randn(reference.sizes());
      const variable_list want =
          torch::autograd::grad({(reference.to(at::kFloat) * direction).sum()}, {proj, weight, bias});

      const at::Tensor proj_gpu = gpu_leaf(proj), weight_gpu = gpu_leaf(weight), bias_gpu = gpu_leaf(bias);
      const at::Tensor x_gpu = proj_gpu.narrow(2, s.offset, s.width);
      ASSERT_NE(x_gpu.stride(0), channels);
      const at::Tensor out = causal_conv1d_silu(x_gpu, weight_gpu, bias_gpu, s.cu_seqlens, dtype);
      ASSERT_TRUE(out.is_cuda());
      ASSERT_EQ(out.scalar_type(), dtype);
      const variable_list got = torch::autograd::grad({(out.to(at::kFloat) * direction.to(kGpu)).sum()},
                                                      {proj_gpu, weight_gpu, bias_gpu});
      ASSERT_EQ(got[0].scalar_type(), dtype);
      ASSERT_EQ(got[1].scalar_type(), at::kFloat);
      const char* names[] = {"dx", "dw", "db"};
      if (dtype == at::kFloat) {
        expect_fp32_close(out, reference, 1e-5, "out" + at_shape);
        for (size_t i = 0; i < got.size(); ++i) expect_fp32_close(got[i], want[i], 1e-5, names[i] + at_shape);
      } else {
        expect_bf16_close(out, reference, "out" + at_shape);
        for (size_t i = 0; i < got.size(); ++i) expect_bf16_close(got[i], want[i], names[i] + at_shape);
      }
    }
  }
}

}  // namespace
}  // namespace hetero
