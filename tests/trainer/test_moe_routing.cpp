// The MoE dispatch and combine (model/moe_routing.h) against the ATen
// expressions they replace in moe.cpp: on the CPU the public ops (which are
// those expressions there) and the fused Functions' CPU loops; on the GPU
// (skipped without one) the CUDA kernels, on a hidden width off the
// 16-byte grid (the scalar path), on hidden 2688 with K = 6 (the vector
// path), and on rows at a misaligned address. fp32 results to 1e-5 of
// their scale; bf16 copies and products bit for bit; the dispatch's bf16
// gradient, an fp32 sum rounded once, within one bf16 ulp of the fp32 sum
// of the same values (the ATen expression adds in bf16).
#include <cmath>
#include <functional>
#include <string>

#include <gtest/gtest.h>

#include <torch/torch.h>

#include "model/moe_routing.h"

namespace hetero {
namespace {

#define SKIP_WITHOUT_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device: the kernels run on the GPU only"

using DispatchOp = std::function<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t)>;
using CombineOp = std::function<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&)>;

// The expressions of moe.cpp before the fused ops.
at::Tensor dispatch_reference(const at::Tensor& x, const at::Tensor& order, const at::Tensor& /*inverse*/, int64_t k) {
  return x.index_select(0, at::div(order, k, "floor"));
}
at::Tensor combine_reference(const at::Tensor& sorted, const at::Tensor& inverse, const at::Tensor& weights) {
  const at::Tensor slots = sorted.index_select(0, inverse).view({weights.size(0), weights.size(1), sorted.size(1)});
  return (slots.to(at::kFloat) * weights.unsqueeze(-1)).sum(1);
}

struct RoutingCase {
  int64_t tokens, k, hidden;
  bool misaligned = false;  // rows start one element past a 16-byte boundary
  std::string name() const {
    return "n=" + std::to_string(tokens) + " k=" + std::to_string(k) + " hidden=" + std::to_string(hidden) +
           (misaligned ? " misaligned" : "");
  }
};

struct Slots {
  at::Tensor order, inverse;
};

// Each token's k distinct experts out of 16 (at random), its slots sorted by
// expert as moe.cpp sorts them.
Slots slots_for(int64_t tokens, int64_t k, at::Device device) {
  const at::Tensor chosen = std::get<1>(at::topk(torch::rand({tokens, 16}), k, -1));
  Slots s;
  s.order = std::get<1>(at::sort(chosen.flatten(), /*stable=*/true, 0, /*descending=*/false)).to(device);
  s.inverse = at::empty_like(s.order).index_put_({s.order}, at::arange(s.order.numel(), s.order.options()));
  return s;
}

// A leaf with t's values, on `device` in `dtype`, at an aligned address
// (a fresh allocation) or one element past one.
at::Tensor leaf(const at::Tensor& t, at::Device device, at::ScalarType dtype, bool misaligned = false) {
  const at::Tensor v = t.to(device, dtype);
  if (!misaligned) return v.detach().clone().set_requires_grad(true);
  at::Tensor buffer = at::empty({v.numel() + 1}, v.options());
  at::Tensor shifted = buffer.narrow(0, 1, v.numel()).view(v.sizes());
  shifted.copy_(v);
  return shifted.detach().set_requires_grad(true);
}

void expect_close(const at::Tensor& got, const at::Tensor& want, double rtol, const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  const at::Tensor a = got.detach().to(at::kCPU, at::kDouble), b = want.detach().to(at::kCPU, at::kDouble);
  const double scale = b.abs().max().item<double>(), err = (a - b).abs().max().item<double>();
  EXPECT_GT(scale, 0) << what << ": an all-zero reference checks nothing";
  EXPECT_LE(err, rtol * scale) << what << ": max error " << err << " vs scale " << scale;
}

void expect_equal(const at::Tensor& got, const at::Tensor& want, const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  ASSERT_EQ(got.scalar_type(), want.scalar_type()) << what;
  EXPECT_TRUE(at::equal(got.detach().cpu(), want.detach().cpu()))
      << what << ": max difference "
      << (got.detach().cpu().to(at::kDouble) - want.detach().cpu().to(at::kDouble)).abs().max().item<double>();
}

// got (bf16) within one bf16 ulp of want_fp32 rounded to bf16, or within
// fp32 rounding of the scale (where a sum nearly cancels, the order of an
// fp32 sum moves it by more than its own ulp).
void expect_bf16_within_ulp(const at::Tensor& got, const at::Tensor& want_fp32, const std::string& what) {
  ASSERT_EQ(got.scalar_type(), at::kBFloat16) << what;
  ASSERT_EQ(got.sizes(), want_fp32.sizes()) << what;
  const at::Tensor a = got.detach().to(at::kCPU, at::kDouble);
  const at::Tensor b = want_fp32.detach().to(at::kCPU).to(at::kBFloat16).to(at::kDouble);
  const double scale = want_fp32.detach().abs().max().item<double>();
  const at::Tensor ulp = at::exp2(at::floor(at::log2(b.abs())) - 7);  // 0 where b == 0
  const at::Tensor over = (a - b).abs() > ulp + 1e-6 * scale;
  EXPECT_EQ(over.sum().item<int64_t>(), 0) << what << ": elements off by more than one ulp";
}

at::Tensor grad_of(const at::Tensor& out, const at::Tensor& direction, const at::Tensor& input) {
  return torch::autograd::grad({(out.to(at::kFloat) * direction).sum()}, {input})[0];
}

// `dispatch` on `device` against the ATen expression on the same device.
void check_dispatch(const DispatchOp& dispatch, const RoutingCase& c, at::ScalarType dtype, at::Device device) {
  const std::string what = std::string("dispatch ") + c10::toString(dtype) + " " + c.name();
  torch::manual_seed(c.tokens * 31 + c.k * 7 + c.hidden);
  const Slots s = slots_for(c.tokens, c.k, device);
  const at::Tensor x0 = torch::randn({c.tokens, c.hidden});
  const at::Tensor direction = torch::randn({c.tokens * c.k, c.hidden}).to(dtype).to(at::kFloat).to(device);
  const at::Tensor x = leaf(x0, device, dtype, c.misaligned), x_ref = leaf(x0, device, dtype);
  const at::Tensor rows = dispatch(x, s.order, s.inverse, c.k), want = dispatch_reference(x_ref, s.order, s.inverse, c.k);
  expect_equal(rows, want, what + " rows");
  const at::Tensor dx = grad_of(rows, direction, x);
  EXPECT_EQ(dx.scalar_type(), dtype) << what;
  if (dtype == at::kFloat) {
    expect_close(dx, grad_of(want, direction, x_ref), 1e-5, what + " dx");
  } else {
    const at::Tensor x32 = leaf(x0, device, at::kFloat);
    expect_bf16_within_ulp(dx, grad_of(dispatch_reference(x32, s.order, s.inverse, c.k), direction, x32),
                           what + " dx");
  }
}

// `combine` on `device` against the ATen expression on the same device.
void check_combine(const CombineOp& combine, const RoutingCase& c, at::ScalarType dtype, at::Device device) {
  const std::string what = std::string("combine ") + c10::toString(dtype) + " " + c.name();
  torch::manual_seed(c.tokens * 37 + c.k * 5 + c.hidden);
  const Slots s = slots_for(c.tokens, c.k, device);
  const at::Tensor sorted0 = torch::randn({c.tokens * c.k, c.hidden}), weights0 = torch::rand({c.tokens, c.k}) + 0.1;
  const at::Tensor direction = torch::randn({c.tokens, c.hidden}).to(device);
  const at::Tensor sorted = leaf(sorted0, device, dtype, c.misaligned), sorted_ref = leaf(sorted0, device, dtype);
  const at::Tensor weights = leaf(weights0, device, at::kFloat), weights_ref = leaf(weights0, device, at::kFloat);
  const at::Tensor y = combine(sorted, s.inverse, weights), want = combine_reference(sorted_ref, s.inverse, weights_ref);
  EXPECT_EQ(y.scalar_type(), at::kFloat) << what;
  expect_close(y, want, 1e-5, what + " y");
  const auto got = torch::autograd::grad({(y * direction).sum()}, {sorted, weights});
  const auto ref = torch::autograd::grad({(want * direction).sum()}, {sorted_ref, weights_ref});
  expect_equal(got[0], ref[0], what + " d_sorted");
  expect_close(got[1], ref[1], 1e-5, what + " d_weights");
}

const RoutingCase kCpuCases[] = {{1, 1, 8}, {7, 3, 5}, {16, 6, 64}, {9, 2, 24, true}};

TEST(MoeRouting, OnTheCpuTheOpsAreTheAtenExpressions) {
  for (const at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    const std::string at_dtype = c10::toString(dtype);
    torch::manual_seed(2);
    const int64_t n = 11, k = 3, hidden = 10;
    const Slots s = slots_for(n, k, at::kCPU);
    const at::Tensor x0 = torch::randn({n, hidden}), w0 = torch::rand({n, k});
    const at::Tensor x = leaf(x0, at::kCPU, dtype), x_ref = leaf(x0, at::kCPU, dtype);
    const at::Tensor w = leaf(w0, at::kCPU, at::kFloat), w_ref = leaf(w0, at::kCPU, at::kFloat);
    const at::Tensor y = moe_combine(moe_dispatch(x, s.order, s.inverse, k), s.inverse, w);
    const at::Tensor want = combine_reference(dispatch_reference(x_ref, s.order, s.inverse, k), s.inverse, w_ref);
    expect_equal(y, want, at_dtype + " y");
    const at::Tensor direction = torch::randn({n, hidden});
    const auto got = torch::autograd::grad({(y * direction).sum()}, {x, w});
    const auto ref = torch::autograd::grad({(want * direction).sum()}, {x_ref, w_ref});
    expect_equal(got[0], ref[0], at_dtype + " dx");
    expect_equal(got[1], ref[1], at_dtype + " d_weights");
  }
}

TEST(MoeRouting, FusedDispatchOnTheCpuMatchesTheAtenExpression) {
  for (const RoutingCase& c : kCpuCases)
    for (const at::ScalarType dtype : {at::kFloat, at::kBFloat16}) check_dispatch(moe_dispatch_fused, c, dtype, at::kCPU);
}

TEST(MoeRouting, FusedCombineOnTheCpuMatchesTheAtenExpression) {
  for (const RoutingCase& c : kCpuCases)
    for (const at::ScalarType dtype : {at::kFloat, at::kBFloat16}) check_combine(moe_combine_fused, c, dtype, at::kCPU);
}

TEST(MoeRouting, RejectsInvalidOrdersAndShapes) {
  torch::manual_seed(3);
  const int64_t n = 5, k = 2, hidden = 8;
  const Slots s = slots_for(n, k, at::kCPU);
  const at::Tensor x = torch::randn({n, hidden}), sorted = torch::randn({n * k, hidden}), w = torch::rand({n, k});
  const DispatchOp dispatches[] = {moe_dispatch, moe_dispatch_fused};
  for (const DispatchOp& dispatch : dispatches) {
    EXPECT_NO_THROW(dispatch(x, s.order, s.inverse, k));
    EXPECT_THROW(dispatch(x, s.order.narrow(0, 0, n * k - 1), s.inverse, k), c10::Error) << "order too short";
    EXPECT_THROW(dispatch(x, s.order.to(at::kInt), s.inverse, k), c10::Error) << "order int32";
    EXPECT_THROW(dispatch(x, s.order, s.inverse, k + 1), c10::Error) << "k does not match";
    EXPECT_THROW(dispatch(x, s.order, s.inverse, 0), c10::Error) << "k = 0";
    EXPECT_THROW(dispatch(x.flatten(), s.order, s.inverse, k), c10::Error) << "x 1-D";
    at::Tensor repeated = s.order.clone();
    repeated[0] = repeated[1];
    EXPECT_THROW(dispatch(x, repeated, s.inverse, k), c10::Error) << "order repeats a slot";
    at::Tensor outside = s.order.clone();
    outside[0] = n * k;
    EXPECT_THROW(dispatch(x, outside, s.inverse, k), c10::Error) << "order outside the slots";
    EXPECT_THROW(dispatch(x, s.order, s.order, k), c10::Error) << "inverse is not order's inverse";
  }
  const CombineOp combines[] = {moe_combine, moe_combine_fused};
  for (const CombineOp& combine : combines) {
    EXPECT_NO_THROW(combine(sorted, s.inverse, w));
    EXPECT_THROW(combine(sorted.narrow(0, 0, n * k - 1), s.inverse, w), c10::Error) << "sorted too short";
    EXPECT_THROW(combine(sorted, s.inverse, w.narrow(1, 0, 1)), c10::Error) << "weights of another k";
    EXPECT_THROW(combine(sorted, s.inverse, w.to(at::kBFloat16)), c10::Error) << "weights bf16";
    EXPECT_THROW(combine(sorted, s.inverse, w.flatten()), c10::Error) << "weights 1-D";
    EXPECT_THROW(combine(sorted, s.inverse.to(at::kInt), w), c10::Error) << "inverse int32";
    at::Tensor repeated = s.inverse.clone();
    repeated[0] = repeated[1];
    EXPECT_THROW(combine(sorted, repeated, w), c10::Error) << "inverse repeats a row";
  }
  EXPECT_THROW(moe_dispatch_fused(x.to(at::kHalf), s.order, s.inverse, k), c10::Error) << "fp16 x";
  EXPECT_THROW(moe_combine_fused(sorted.to(at::kHalf), s.inverse, w), c10::Error) << "fp16 sorted";
}

const RoutingCase kGpuCases[] = {{37, 3, 100}, {1024, 6, 2688}, {64, 6, 2688, true}, {5, 1, 8}};

TEST(MoeRoutingGpu, DispatchKernelsMatchTheAtenExpression) {
  SKIP_WITHOUT_CUDA();
  for (const RoutingCase& c : kGpuCases)
    for (const at::ScalarType dtype : {at::kFloat, at::kBFloat16}) check_dispatch(moe_dispatch, c, dtype, at::kCUDA);
}

TEST(MoeRoutingGpu, CombineKernelsMatchTheAtenExpression) {
  SKIP_WITHOUT_CUDA();
  for (const RoutingCase& c : kGpuCases)
    for (const at::ScalarType dtype : {at::kFloat, at::kBFloat16}) check_combine(moe_combine, c, dtype, at::kCUDA);
}

// No atomics: the gradients are the same bits on every run.
TEST(MoeRoutingGpu, GradientsAreDeterministic) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(9);
  const int64_t n = 512, k = 6, hidden = 2688;
  const Slots s = slots_for(n, k, at::kCUDA);
  const at::Tensor x = leaf(torch::randn({n, hidden}), at::kCUDA, at::kBFloat16);
  const at::Tensor w = leaf(torch::rand({n, k}), at::kCUDA, at::kFloat);
  const at::Tensor direction = torch::randn({n, hidden}).to(at::kCUDA);
  std::vector<at::Tensor> first;
  for (int run = 0; run < 3; ++run) {
    const at::Tensor y = moe_combine(moe_dispatch(x, s.order, s.inverse, k) * 1.5, s.inverse, w);
    const auto grads = torch::autograd::grad({(y * direction).sum()}, {x, w});
    if (run == 0) first = grads;
    for (size_t i = 0; i < grads.size(); ++i) EXPECT_TRUE(at::equal(grads[i], first[i])) << "run " << run << " grad " << i;
  }
}

}  // namespace
}  // namespace hetero
