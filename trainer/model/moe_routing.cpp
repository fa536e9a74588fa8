#include "model/moe_routing.h"

#include <utility>

#include <torch/csrc/autograd/custom_function.h>

#include "kernels/moe_routing.h"
#ifdef HETERO_WITH_CUDA
#include "kernels/moe_routing_launch.h"
#endif

namespace hetero {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

void check_slot_indices(const char* op, const char* name, const at::Tensor& p, int64_t slots, at::Device device) {
  TORCH_CHECK(p.dim() == 1 && p.scalar_type() == at::kLong && p.numel() == slots, op, ": ", name,
              " must be [n * k] = [", slots, "] int64, got ", p.scalar_type(), " ", p.sizes());
  TORCH_CHECK(p.device() == device, op, ": ", name, " is on ", p.device(), ", the rows on ", device);
}

// Whether p holds each of 0..numel-1 once. Checked on the CPU only: on CUDA
// it would stall the host, and the caller builds order by a sort and inverse
// by inverse_permutation.
bool is_permutation(const at::Tensor& p) {
  return at::equal(std::get<0>(at::sort(p)), at::arange(p.numel(), p.options()));
}

MoeRoutingShape dispatch_shape(const at::Tensor& x, const at::Tensor& order, const at::Tensor& inverse, int64_t k) {
  TORCH_CHECK(k >= 1, "moe_dispatch: k (choices per token) must be at least 1, got ", k);
  TORCH_CHECK(x.dim() == 2, "moe_dispatch: x must be [n, hidden], got ", x.sizes());
  const MoeRoutingShape s{x.size(0), k, x.size(1)};
  check_slot_indices("moe_dispatch", "order", order, s.slots(), x.device());
  check_slot_indices("moe_dispatch", "inverse", inverse, s.slots(), x.device());
  if (!x.is_cuda())
    TORCH_CHECK(is_permutation(order) && at::equal(inverse.index_select(0, order), at::arange(s.slots(), order.options())),
                "moe_dispatch: order must be a permutation of the ", s.slots(), " slots and inverse its inverse");
  return s;
}

MoeRoutingShape combine_shape(const at::Tensor& sorted, const at::Tensor& inverse, const at::Tensor& weights) {
  TORCH_CHECK(weights.dim() == 2 && weights.size(1) >= 1 && weights.scalar_type() == at::kFloat,
              "moe_combine: weights must be [n, k] fp32 with k >= 1, got ", weights.scalar_type(), " ", weights.sizes());
  TORCH_CHECK(weights.device() == sorted.device(), "moe_combine: weights are on ", weights.device(), ", sorted on ",
              sorted.device());
  const MoeRoutingShape s{weights.size(0), weights.size(1), sorted.dim() == 2 ? sorted.size(1) : 0};
  TORCH_CHECK(sorted.dim() == 2 && sorted.size(0) == s.slots(), "moe_combine: sorted must be [n * k, hidden] with n * k = ",
              s.slots(), " (weights ", weights.sizes(), "), got ", sorted.sizes());
  check_slot_indices("moe_combine", "inverse", inverse, s.slots(), sorted.device());
  if (!sorted.is_cuda())
    TORCH_CHECK(is_permutation(inverse), "moe_combine: inverse must be a permutation of the ", s.slots(), " slots");
  return s;
}

// The ATen expressions the fused ops replace (model/moe.cpp before them).
at::Tensor dispatch_reference(const at::Tensor& x, const at::Tensor& order, int64_t k) {
  return x.index_select(0, at::div(order, k, "floor"));
}

at::Tensor combine_reference(const at::Tensor& sorted, const at::Tensor& inverse, const at::Tensor& weights) {
  const at::Tensor slots = sorted.index_select(0, inverse).view({weights.size(0), weights.size(1), sorted.size(1)});
  return (slots.to(at::kFloat) * weights.unsqueeze(-1)).sum(1);
}

// The CPU loops, on fp32 copies (bf16 converts exactly), in the kernels'
// order of operations; results rounded once. Inputs contiguous.
at::Tensor dispatch_cpu(const at::Tensor& x, const at::Tensor& order, const MoeRoutingShape& s) {
  const at::Tensor xf = x.to(at::kFloat).contiguous();
  at::Tensor rows = at::empty({s.slots(), s.hidden}, xf.options());
  const float* xp = xf.data_ptr<float>();
  const int64_t* op = order.data_ptr<int64_t>();
  float* rp = rows.data_ptr<float>();
  for (int64_t j = 0; j < s.slots(); ++j) {
    const float* src = xp + moe_token_of_row(op, j, s.k) * s.hidden;
    for (int64_t c = 0; c < s.hidden; ++c) rp[j * s.hidden + c] = src[c];
  }
  return rows.to(x.scalar_type());
}

at::Tensor dispatch_backward_cpu(const at::Tensor& d_rows, const at::Tensor& inverse, const MoeRoutingShape& s) {
  const at::Tensor g = d_rows.to(at::kFloat).contiguous();
  at::Tensor dx = at::zeros({s.tokens, s.hidden}, g.options());
  const float* gp = g.data_ptr<float>();
  const int64_t* ip = inverse.data_ptr<int64_t>();
  float* dp = dx.data_ptr<float>();
  for (int64_t t = 0; t < s.tokens; ++t)
    for (int64_t choice = 0; choice < s.k; ++choice) {
      const float* src = gp + moe_row_of_slot(ip, t, choice, s.k) * s.hidden;
      for (int64_t c = 0; c < s.hidden; ++c) dp[t * s.hidden + c] += src[c];
    }
  return dx.to(d_rows.scalar_type());
}

at::Tensor combine_cpu(const at::Tensor& sorted, const at::Tensor& inverse, const at::Tensor& weights,
                       const MoeRoutingShape& s) {
  const at::Tensor v = sorted.to(at::kFloat).contiguous();
  at::Tensor y = at::zeros({s.tokens, s.hidden}, v.options());
  const float *vp = v.data_ptr<float>(), *wp = weights.data_ptr<float>();
  const int64_t* ip = inverse.data_ptr<int64_t>();
  float* yp = y.data_ptr<float>();
  for (int64_t t = 0; t < s.tokens; ++t)
    for (int64_t choice = 0; choice < s.k; ++choice) {
      const float w = wp[t * s.k + choice], *src = vp + moe_row_of_slot(ip, t, choice, s.k) * s.hidden;
      for (int64_t c = 0; c < s.hidden; ++c) yp[t * s.hidden + c] += src[c] * w;
    }
  return y;
}

std::pair<at::Tensor, at::Tensor> combine_backward_cpu(const at::Tensor& dy, const at::Tensor& sorted,
                                                       const at::Tensor& inverse, const at::Tensor& weights,
                                                       const MoeRoutingShape& s) {
  const at::Tensor v = sorted.to(at::kFloat).contiguous();
  at::Tensor d_sorted = at::empty_like(v), d_weights = at::empty_like(weights);
  const float *gp = dy.data_ptr<float>(), *vp = v.data_ptr<float>(), *wp = weights.data_ptr<float>();
  const int64_t* ip = inverse.data_ptr<int64_t>();
  float *dsp = d_sorted.data_ptr<float>(), *dwp = d_weights.data_ptr<float>();
  for (int64_t slot = 0; slot < s.slots(); ++slot) {
    const int64_t row = ip[slot];
    const float* g = gp + slot / s.k * s.hidden;
    float dot = 0.0f;
    for (int64_t c = 0; c < s.hidden; ++c) {
      dsp[row * s.hidden + c] = g[c] * wp[slot];
      dot += g[c] * vp[row * s.hidden + c];
    }
    dwp[slot] = dot;
  }
  return {d_sorted.to(sorted.scalar_type()), d_weights};
}

void save_shape(AutogradContext* ctx, const MoeRoutingShape& s) {
  ctx->saved_data["tokens"] = s.tokens;
  ctx->saved_data["k"] = s.k;
  ctx->saved_data["hidden"] = s.hidden;
}

MoeRoutingShape saved_shape(AutogradContext* ctx) {
  return {ctx->saved_data["tokens"].toInt(), ctx->saved_data["k"].toInt(), ctx->saved_data["hidden"].toInt()};
}

// Saves inverse alone: the gradient is a gather-sum over each token's slots.
struct MoeDispatch : torch::autograd::Function<MoeDispatch> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& order,
                            const at::Tensor& inverse, int64_t k) {
    const MoeRoutingShape s{x.size(0), k, x.size(1)};  // checked by moe_dispatch(_fused)
    const at::Tensor xc = x.contiguous(), oc = order.contiguous();
    ctx->save_for_backward({inverse.contiguous()});
    save_shape(ctx, s);
#ifdef HETERO_WITH_CUDA
    if (xc.is_cuda()) return moe_dispatch_cuda(xc, oc, s);
#endif
    return dispatch_cpu(xc, oc, s);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const at::Tensor inverse = ctx->get_saved_variables()[0];
    const MoeRoutingShape s = saved_shape(ctx);
    const at::Tensor g = grads[0].contiguous();  // x's dtype, as the rows
#ifdef HETERO_WITH_CUDA
    if (g.is_cuda()) return {moe_dispatch_backward_cuda(g, inverse, s), {}, {}, {}};
#endif
    return {dispatch_backward_cpu(g, inverse, s), {}, {}, {}};
  }
};

// Saves sorted (the experts' output, alive anyway) rather than an fp32 copy
// of every slot as the ATen expression does.
struct MoeCombine : torch::autograd::Function<MoeCombine> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& sorted, const at::Tensor& inverse,
                            const at::Tensor& weights) {
    const MoeRoutingShape s{weights.size(0), weights.size(1), sorted.size(1)};  // checked by moe_combine(_fused)
    const at::Tensor sc = sorted.contiguous(), ic = inverse.contiguous(), wc = weights.contiguous();
    ctx->save_for_backward({sc, ic, wc});
    save_shape(ctx, s);
#ifdef HETERO_WITH_CUDA
    if (sc.is_cuda()) return moe_combine_cuda(sc, ic, wc, s);
#endif
    return combine_cpu(sc, ic, wc, s);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor &sorted = saved[0], &inverse = saved[1], &weights = saved[2];
    const MoeRoutingShape s = saved_shape(ctx);
    const at::Tensor dy = grads[0].to(at::kFloat).contiguous();
#ifdef HETERO_WITH_CUDA
    if (dy.is_cuda()) {
      const auto [d_sorted, d_weights] = moe_combine_backward_cuda(dy, sorted, inverse, weights, s);
      return {d_sorted, {}, d_weights};
    }
#endif
    const auto [d_sorted, d_weights] = combine_backward_cpu(dy, sorted, inverse, weights, s);
    return {d_sorted, {}, d_weights};
  }
};

bool fused_dtype(const at::Tensor& rows) {
  return rows.scalar_type() == at::kFloat || rows.scalar_type() == at::kBFloat16;
}

// What the CUDA kernels take (the CUDA build, CUDA rows of fp32 or bf16).
bool kernels_take(const at::Tensor& rows) {
#ifdef HETERO_WITH_CUDA
  return rows.is_cuda() && fused_dtype(rows);
#else
  (void)rows;
  return false;
#endif
}

}  // namespace

at::Tensor moe_dispatch(const at::Tensor& x, const at::Tensor& order, const at::Tensor& inverse, int64_t k) {
  dispatch_shape(x, order, inverse, k);  // validate before autograd records anything
  if (kernels_take(x)) return MoeDispatch::apply(x, order, inverse, k);
  return dispatch_reference(x, order, k);
}

at::Tensor moe_combine(const at::Tensor& sorted, const at::Tensor& inverse, const at::Tensor& weights) {
  combine_shape(sorted, inverse, weights);
  if (kernels_take(sorted)) return MoeCombine::apply(sorted, inverse, weights);
  return combine_reference(sorted, inverse, weights);
}

at::Tensor moe_dispatch_fused(const at::Tensor& x, const at::Tensor& order, const at::Tensor& inverse, int64_t k) {
  dispatch_shape(x, order, inverse, k);
  TORCH_CHECK(fused_dtype(x), "moe_dispatch_fused: x must be fp32 or bf16, got ", x.scalar_type());
  return MoeDispatch::apply(x, order, inverse, k);
}

at::Tensor moe_combine_fused(const at::Tensor& sorted, const at::Tensor& inverse, const at::Tensor& weights) {
  combine_shape(sorted, inverse, weights);
  TORCH_CHECK(fused_dtype(sorted), "moe_combine_fused: sorted must be fp32 or bf16, got ", sorted.scalar_type());
  return MoeCombine::apply(sorted, inverse, weights);
}

}  // namespace hetero
