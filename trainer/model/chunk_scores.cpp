#include "model/chunk_scores.h"

#include <tuple>

#include <torch/csrc/autograd/custom_function.h>

#include "kernels/chunk_scores.h"
#ifdef HETERO_WITH_CUDA
#include "kernels/chunk_scores_launch.h"
#endif

namespace hetero {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

void check_shapes(const at::Tensor& cb, const at::Tensor& a_cum, const at::Tensor& dt, at::ScalarType out_dtype) {
  TORCH_CHECK(cb.dim() == 5 && cb.size(3) == cb.size(4), "chunk_scores: CB must be [b, c, g, q, q], got ", cb.sizes());
  TORCH_CHECK(a_cum.dim() == 5 && a_cum.sizes() == dt.sizes(), "chunk_scores: a_cum and dt must be [b, c, g, hg, q] ",
              "alike, got ", a_cum.sizes(), " and ", dt.sizes());
  TORCH_CHECK(a_cum.size(0) == cb.size(0) && a_cum.size(1) == cb.size(1) && a_cum.size(2) == cb.size(2) &&
                  a_cum.size(4) == cb.size(4),
              "chunk_scores: a_cum ", a_cum.sizes(), " does not match CB ", cb.sizes(), " in b, c, g or q");
  for (const at::Tensor* t : {&cb, &a_cum, &dt})
    TORCH_CHECK(t->scalar_type() == at::kFloat, "chunk_scores: CB, a_cum and dt must be fp32, got ", t->scalar_type(),
                "; cast them first");
  TORCH_CHECK(out_dtype == at::kFloat || out_dtype == at::kBFloat16, "chunk_scores: out_dtype ", out_dtype,
              " is not fp32 or bf16");
}

// The CPU loop: fp32 scores over contiguous inputs.
at::Tensor forward_cpu(const at::Tensor& cb, const at::Tensor& a_cum, const at::Tensor& dt) {
  const int64_t q = cb.size(4), hg = a_cum.size(3), groups = cb.numel() / (q * q);
  auto sizes = a_cum.sizes().vec();
  sizes.push_back(q);
  at::Tensor scores = at::empty(sizes, a_cum.options());
  const float *cbp = cb.data_ptr<float>(), *ap = a_cum.data_ptr<float>(), *dp = dt.data_ptr<float>();
  float* out = scores.data_ptr<float>();
  for (int64_t head = 0; head < groups * hg; ++head) {
    const float *c = cbp + head / hg * q * q, *a = ap + head * q, *d = dp + head * q;
    float* o = out + head * q * q;
    for (int t = 0; t < q; ++t)
      for (int s = 0; s < q; ++s) o[t * q + s] = chunk_score(c[t * q + s], a[t], a[s], d[s], t, s);
  }
  return scores;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> backward_cpu(const at::Tensor& d_scores, const at::Tensor& cb,
                                                            const at::Tensor& a_cum, const at::Tensor& dt) {
  const int64_t q = cb.size(4), hg = a_cum.size(3), groups = cb.numel() / (q * q);
  at::Tensor d_cb = at::zeros_like(cb), d_a = at::zeros_like(a_cum), d_dt = at::zeros_like(dt);
  const float *dsp = d_scores.data_ptr<float>(), *cbp = cb.data_ptr<float>(), *ap = a_cum.data_ptr<float>(),
              *dp = dt.data_ptr<float>();
  float *dcbp = d_cb.data_ptr<float>(), *dap = d_a.data_ptr<float>(), *ddtp = d_dt.data_ptr<float>();
  for (int64_t head = 0; head < groups * hg; ++head) {
    const float *c = cbp + head / hg * q * q, *a = ap + head * q, *d = dp + head * q, *ds = dsp + head * q * q;
    float *dc = dcbp + head / hg * q * q, *da = dap + head * q, *ddt = ddtp + head * q;
    for (int t = 0; t < q; ++t) {
      for (int s = 0; s <= t; ++s) {
        const ChunkScoreGrad r = chunk_score_grad(ds[t * q + s], c[t * q + s], a[t], a[s], d[s]);
        dc[t * q + s] += r.d_cb;
        da[t] += r.g;
        da[s] -= r.g;
        ddt[s] += r.d_dt;
      }
    }
  }
  return {d_cb, d_a, d_dt};
}

struct ChunkScores : torch::autograd::Function<ChunkScores> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& cb, const at::Tensor& a_cum, const at::Tensor& dt,
                            at::ScalarType out_dtype) {
    const at::Tensor c = cb.contiguous(), a = a_cum.contiguous(), d = dt.contiguous();
    ctx->save_for_backward({c, a, d});
#ifdef HETERO_WITH_CUDA
    if (c.is_cuda()) return chunk_scores_cuda(c, a, d, out_dtype);
#endif
    return forward_cpu(c, a, d).to(out_dtype);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list s = ctx->get_saved_variables();
    const at::Tensor &cb = s[0], &a_cum = s[1], &dt = s[2];
#ifdef HETERO_WITH_CUDA
    if (cb.is_cuda()) {
      const auto [d_cb, d_a_cum, d_dt] = chunk_scores_backward_cuda(grads[0].contiguous(), cb, a_cum, dt);
      return {d_cb, d_a_cum, d_dt, at::Tensor()};
    }
#endif
    const auto g = backward_cpu(grads[0].to(at::kFloat).contiguous(), cb, a_cum, dt);
    return {std::get<0>(g), std::get<1>(g), std::get<2>(g), at::Tensor()};
  }
};

}  // namespace

at::Tensor chunk_scores(const at::Tensor& cb, const at::Tensor& a_cum, const at::Tensor& dt, at::ScalarType out_dtype) {
  check_shapes(cb, a_cum, dt, out_dtype);
  return ChunkScores::apply(cb, a_cum, dt, out_dtype);
}

}  // namespace hetero
