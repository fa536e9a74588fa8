// The chunked SSD scan equals the step-by-step recurrence it is derived
// from, in values and in gradients, for lengths that do and do not fill
// whole chunks.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "model/ssd_scan.h"

namespace hetero {
namespace {

struct Inputs {
  at::Tensor x, dt, A, B, C;
};

Inputs random_inputs(int64_t b, int64_t l, int64_t h, int64_t p, int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  Inputs in;
  in.x = torch::randn({b, l, h, p}).set_requires_grad(true);
  in.dt = torch::nn::functional::softplus(torch::randn({b, l, h})).detach().set_requires_grad(true);
  in.A = (-torch::rand({h}) * 2 - 0.1).set_requires_grad(true);
  in.B = torch::randn({b, l, h, n}).set_requires_grad(true);
  in.C = torch::randn({b, l, h, n}).set_requires_grad(true);
  return in;
}

void expect_close(const at::Tensor& a, const at::Tensor& b, double rtol, const char* what) {
  const double scale = b.abs().max().item<double>();
  const double err = (a - b).abs().max().item<double>();
  EXPECT_LE(err, rtol * scale) << what << ": max error " << err << " vs scale " << scale;
}

TEST(SsdScan, ChunkedEqualsRecurrence) {
  for (int64_t chunk : {1, 4, 8, 16}) {
    for (int64_t l : {1, 7, 16, 21}) {
      Inputs in = random_inputs(2, l, 3, 4, 5, 100 + chunk * 31 + l);
      const at::Tensor y = ssd_chunked_scan(in.x, in.dt, in.A, in.B, in.C, chunk);
      const at::Tensor ref = ssd_recurrence(in.x, in.dt, in.A, in.B, in.C);
      ASSERT_EQ(y.sizes(), ref.sizes());
      expect_close(y, ref, 1e-5, "forward");
    }
  }
}

TEST(SsdScan, GradientsMatchTheRecurrence) {
  Inputs in = random_inputs(2, 13, 2, 3, 4, 7);
  const at::Tensor w = torch::randn({2, 13, 2, 3});  // a fixed random loss direction
  auto grads = [&](bool chunked) {
    for (auto* t : {&in.x, &in.dt, &in.A, &in.B, &in.C})
      if (t->grad().defined()) t->mutable_grad().zero_();
    const at::Tensor y = chunked ? ssd_chunked_scan(in.x, in.dt, in.A, in.B, in.C, 4)
                                 : ssd_recurrence(in.x, in.dt, in.A, in.B, in.C);
    (y * w).sum().backward();
    return std::vector<at::Tensor>{in.x.grad().clone(), in.dt.grad().clone(), in.A.grad().clone(),
                                   in.B.grad().clone(), in.C.grad().clone()};
  };
  const auto chunked = grads(true), reference = grads(false);
  const char* names[] = {"dx", "ddt", "dA", "dB", "dC"};
  for (size_t i = 0; i < chunked.size(); ++i) expect_close(chunked[i], reference[i], 1e-4, names[i]);
}

TEST(SsdScan, StateDecaysWithoutInput) {
  // One impulse at t=0 then silence: y_t = exp(A * sum dt) * (dt_0 x_0 B_0^T) C_t.
  const at::Tensor x = torch::zeros({1, 5, 1, 1}), B = torch::ones({1, 5, 1, 1}), C = torch::ones({1, 5, 1, 1});
  x[0][0][0][0] = 2.0;
  const at::Tensor dt = torch::full({1, 5, 1}, 0.5), A = torch::full({1}, -1.0);
  const at::Tensor y = ssd_chunked_scan(x, dt, A, B, C, 2);
  for (int t = 0; t < 5; ++t)
    EXPECT_NEAR(y[0][t][0][0].item<double>(), 0.5 * 2.0 * std::exp(-0.5 * t), 1e-6) << "t=" << t;
}

// The grouped scan (B, C per group of heads, state passing as one matmul)
// against today's scan on B, C expanded to heads, on odd shapes: lengths
// that do and do not fill chunks, one chunk and many, one group and several.
struct GroupedShape {
  int64_t b, l, g, hg, p, n, chunk;
};

Inputs grouped_inputs(const GroupedShape& s, uint64_t seed) {
  torch::manual_seed(seed);
  const int64_t h = s.g * s.hg;
  Inputs in;
  in.x = torch::randn({s.b, s.l, h, s.p}).set_requires_grad(true);
  in.dt = torch::nn::functional::softplus(torch::randn({s.b, s.l, h})).detach().set_requires_grad(true);
  in.A = (-torch::rand({h}) * 2 - 0.1).set_requires_grad(true);
  in.B = torch::randn({s.b, s.l, s.g, s.n}).set_requires_grad(true);
  in.C = torch::randn({s.b, s.l, s.g, s.n}).set_requires_grad(true);
  return in;
}

TEST(SsdScan, GroupedEqualsTheExpandedScanInValuesAndGradients) {
  const std::vector<GroupedShape> shapes = {
      {2, 21, 2, 3, 5, 3, 4}, {1, 7, 1, 1, 2, 4, 16}, {3, 33, 3, 2, 3, 2, 8}, {1, 16, 2, 2, 4, 5, 4}, {2, 5, 1, 3, 3, 3, 1}};
  for (size_t i = 0; i < shapes.size(); ++i) {
    const GroupedShape& s = shapes[i];
    Inputs in = grouped_inputs(s, 40 + i);
    const at::Tensor w = torch::randn({s.b, s.l, s.g * s.hg, s.p});  // a fixed random loss direction
    auto run = [&](bool grouped) {
      for (auto* t : {&in.x, &in.dt, &in.A, &in.B, &in.C})
        if (t->grad().defined()) t->mutable_grad().zero_();
      const at::Tensor y =
          grouped ? ssd_chunked_scan_grouped(in.x, in.dt, in.A, in.B, in.C, s.chunk)
                  : ssd_chunked_scan(in.x, in.dt, in.A, in.B.repeat_interleave(s.hg, 2), in.C.repeat_interleave(s.hg, 2),
                                     s.chunk);
      (y * w).sum().backward();
      return std::vector<at::Tensor>{y.detach(), in.x.grad().clone(), in.dt.grad().clone(), in.A.grad().clone(),
                                     in.B.grad().clone(), in.C.grad().clone()};
    };
    const auto grouped = run(true), reference = run(false);
    const char* names[] = {"y", "dx", "ddt", "dA", "dB", "dC"};
    for (size_t k = 0; k < grouped.size(); ++k) {
      SCOPED_TRACE("shape " + std::to_string(i));
      ASSERT_EQ(grouped[k].sizes(), reference[k].sizes()) << names[k];
      expect_close(grouped[k], reference[k], 1e-5, names[k]);
    }
  }
}

TEST(SsdScan, ChunkedXGivesTheSameScanAndGradients) {
  // The mixer hands the scan x chunked (ssd_chunked_x: its strided [b, l, g,
  // hg * p] rows, zero-padded to whole chunks) and takes the first l steps.
  const std::vector<GroupedShape> shapes = {{2, 21, 2, 3, 5, 3, 4}, {1, 16, 2, 2, 4, 5, 4}, {2, 5, 1, 3, 3, 3, 8}};
  for (size_t i = 0; i < shapes.size(); ++i) {
    SCOPED_TRACE("shape " + std::to_string(i));
    const GroupedShape& s = shapes[i];
    Inputs in = grouped_inputs(s, 60 + i);
    const at::Tensor wide = torch::randn({s.b, s.l, s.g, s.hg * s.p + 3}).narrow(3, 1, s.hg * s.p);
    const at::Tensor rows = wide.detach().set_requires_grad(true);  // strided, as the mixer's split leaves x
    const at::Tensor by_step = rows.detach().reshape({s.b, s.l, s.g * s.hg, s.p}).set_requires_grad(true);
    const at::Tensor D = torch::rand({s.g * s.hg}) + 0.5;
    const at::Tensor want = ssd_chunked_scan_grouped(by_step, in.dt, in.A, in.B, in.C, s.chunk, D);
    const at::Tensor got =
        ssd_chunked_scan_grouped(ssd_chunked_x(rows, s.p, s.chunk), in.dt, in.A, in.B, in.C, s.chunk, D).narrow(1, 0, s.l);
    ASSERT_EQ(got.sizes(), want.sizes());
    expect_close(got, want, 1e-6, "y");
    const at::Tensor w = torch::randn(want.sizes());
    const auto want_grads = torch::autograd::grad({(want * w).sum()}, {by_step, in.dt, in.A, in.B, in.C});
    const auto got_grads = torch::autograd::grad({(got * w).sum()}, {rows, in.dt, in.A, in.B, in.C});
    expect_close(got_grads[0].reshape(want_grads[0].sizes()), want_grads[0], 1e-6, "dx");
    const char* names[] = {"dx", "ddt", "dA", "dB", "dC"};
    for (size_t k = 1; k < want_grads.size(); ++k) expect_close(got_grads[k], want_grads[k], 1e-6, names[k]);
  }
  const GroupedShape s{1, 8, 1, 2, 3, 2, 4};
  const Inputs in = grouped_inputs(s, 70);
  const at::Tensor chunked = ssd_chunked_x(torch::randn({1, 8, 1, 6}), s.p, 4);
  EXPECT_THROW(ssd_chunked_scan_grouped(chunked, in.dt, in.A, in.B, in.C, 2), c10::Error);  // chunks of 4, not 2
}

}  // namespace
}  // namespace hetero
