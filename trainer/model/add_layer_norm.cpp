#include "model/add_layer_norm.h"

#include <cstdint>
#include <tuple>

#include <torch/csrc/autograd/custom_function.h>

#include "kernels/add_layer_norm.h"
#ifdef HETERO_WITH_CUDA
#include "kernels/add_layer_norm_cuda.h"
#include "kernels/add_layer_norm_launch.h"
#endif

namespace hetero {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The CPU loop over the rows of contiguous [tokens, n] x and a in T: (h, y,
// mean, rstd). h is stored in T first and its rounded values normed, as the
// kernel does.
template <typename T>
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> forward_cpu(const at::Tensor& x, const at::Tensor& a,
                                                                       const at::Tensor& gamma,
                                                                       const at::Tensor& beta, double eps) {
  const int64_t tokens = x.size(0), n = x.size(1);
  at::Tensor h = at::empty_like(x), y = at::empty_like(x);
  at::Tensor mean = at::empty({tokens}, gamma.options()), rstd = at::empty({tokens}, gamma.options());
  const T *xp = x.data_ptr<T>(), *ap = a.data_ptr<T>();
  const float *gp = gamma.data_ptr<float>(), *bp = beta.data_ptr<float>();
  T *hp = h.data_ptr<T>(), *yp = y.data_ptr<T>();
  float *mp = mean.data_ptr<float>(), *rp = rstd.data_ptr<float>();
  for (int64_t row = 0; row < tokens; ++row) {
    const T *x_row = xp + row * n, *a_row = ap + row * n;
    T *h_row = hp + row * n, *y_row = yp + row * n;
    float sum = 0;
    for (int64_t c = 0; c < n; ++c) {
      h_row[c] = static_cast<T>(static_cast<float>(x_row[c]) + static_cast<float>(a_row[c]));
      sum += static_cast<float>(h_row[c]);
    }
    mp[row] = add_layer_norm_mean(sum, static_cast<int>(n));
    float squares = 0;
    for (int64_t c = 0; c < n; ++c) {
      const float d = static_cast<float>(h_row[c]) - mp[row];
      squares += d * d;
    }
    rp[row] = add_layer_norm_rstd(squares, static_cast<int>(n), static_cast<float>(eps));
    for (int64_t c = 0; c < n; ++c)
      y_row[c] = static_cast<T>(add_layer_norm_out(static_cast<float>(h_row[c]), mp[row], rp[row], gp[c], bp[c]));
  }
  return {h, y, mean, rstd};
}

// (dh, d_gamma, d_beta); dy, dh_in (may be undefined) and h contiguous in T.
template <typename T>
std::tuple<at::Tensor, at::Tensor, at::Tensor> backward_cpu(const at::Tensor& dy, const at::Tensor& dh_in,
                                                            const at::Tensor& h, const at::Tensor& gamma,
                                                            const at::Tensor& mean, const at::Tensor& rstd) {
  const int64_t tokens = h.size(0), n = h.size(1);
  at::Tensor dh = at::empty_like(h), d_gamma = at::zeros_like(gamma), d_beta = at::zeros_like(gamma);
  const T *dyp = dy.data_ptr<T>(), *hp = h.data_ptr<T>();
  const T* dh_in_p = dh_in.defined() ? dh_in.data_ptr<T>() : nullptr;
  const float *gp = gamma.data_ptr<float>(), *mp = mean.data_ptr<float>(), *rp = rstd.data_ptr<float>();
  T* dhp = dh.data_ptr<T>();
  float *dgp = d_gamma.data_ptr<float>(), *dbp = d_beta.data_ptr<float>();
  for (int64_t row = 0; row < tokens; ++row) {
    const T *dy_row = dyp + row * n, *h_row = hp + row * n;
    float dxhat = 0, dxhat_xhat = 0;
    for (int64_t c = 0; c < n; ++c) {
      const AddLayerNormRowTerms t = add_layer_norm_row_terms(static_cast<float>(dy_row[c]),
                                                              static_cast<float>(h_row[c]), gp[c], mp[row], rp[row]);
      dxhat += t.dxhat;
      dxhat_xhat += t.dxhat_xhat;
    }
    const float mean_dxhat = dxhat / static_cast<float>(n), mean_dxhat_xhat = dxhat_xhat / static_cast<float>(n);
    for (int64_t c = 0; c < n; ++c) {
      const float residual = dh_in_p != nullptr ? static_cast<float>(dh_in_p[row * n + c]) : 0.0f;
      const AddLayerNormGrad g = add_layer_norm_grad(residual, static_cast<float>(dy_row[c]),
                                                     static_cast<float>(h_row[c]), gp[c], mp[row], rp[row],
                                                     mean_dxhat, mean_dxhat_xhat);
      dhp[row * n + c] = static_cast<T>(g.dh);
      dgp[c] += g.dgamma;
      dbp[c] += g.dbeta;
    }
  }
  return {dh, d_gamma, d_beta};
}

// A gradient arriving at an output, in that output's dtype and contiguous;
// undefined stays undefined (no gradient through that output).
at::Tensor incoming(const at::Tensor& grad, const at::Tensor& like) {
  return grad.defined() ? grad.to(like.scalar_type()).contiguous() : grad;
}

// On [tokens, n] x and a. Saves h rather than x and a: one tensor instead of
// two for the backward to keep and read, and exactly the (rounded) values
// that were normed.
struct AddLayerNormFunction : torch::autograd::Function<AddLayerNormFunction> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& a,
                               const at::Tensor& gamma, const at::Tensor& beta, double eps) {
    std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> r;
#ifdef HETERO_WITH_CUDA
    if (x.is_cuda()) r = add_layer_norm_cuda(x, a, gamma, beta, eps);
#endif
    if (!x.is_cuda())
      r = x.scalar_type() == at::kBFloat16 ? forward_cpu<at::BFloat16>(x, a, gamma, beta, eps)
                                           : forward_cpu<float>(x, a, gamma, beta, eps);
    const at::Tensor &h = std::get<0>(r), &y = std::get<1>(r);
    ctx->save_for_backward({h, gamma, std::get<2>(r), std::get<3>(r)});
    return {h, y};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list s = ctx->get_saved_variables();
    const at::Tensor &h = s[0], &gamma = s[1], &mean = s[2], &rstd = s[3];
    const at::Tensor dh_in = incoming(grads[0], h), dy = incoming(grads[1], h);
    // Without a gradient at y, h's is the residual's alone and gamma, beta get none.
    if (!dy.defined()) return {dh_in, dh_in, at::Tensor(), at::Tensor(), at::Tensor()};
    std::tuple<at::Tensor, at::Tensor, at::Tensor> g;
#ifdef HETERO_WITH_CUDA
    if (h.is_cuda()) g = add_layer_norm_backward_cuda(dy, dh_in, h, gamma, mean, rstd);
#endif
    if (!h.is_cuda())
      g = h.scalar_type() == at::kBFloat16 ? backward_cpu<at::BFloat16>(dy, dh_in, h, gamma, mean, rstd)
                                           : backward_cpu<float>(dy, dh_in, h, gamma, mean, rstd);
    const at::Tensor& dh = std::get<0>(g);
    return {dh, dh, std::get<1>(g), std::get<2>(g), at::Tensor()};
  }
};

}  // namespace

bool add_layer_norm_supported(const at::Tensor& x) {
#ifdef HETERO_WITH_CUDA
  if (!x.is_cuda() || x.dim() < 1 || !x.is_contiguous()) return false;
  if (x.scalar_type() != at::kFloat && x.scalar_type() != at::kBFloat16) return false;
  const int64_t n = x.size(-1);
  return n > 0 && n <= kAddLayerNormMaxRow && n % kAddLayerNormRowMultiple == 0 &&
         reinterpret_cast<std::uintptr_t>(x.data_ptr()) % 16 == 0;
#else
  (void)x;
  return false;
#endif
}

AddLayerNorm add_layer_norm(const at::Tensor& x, const at::Tensor& a, const at::Tensor& gamma, const at::Tensor& beta,
                            double eps) {
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) > 0, "add_layer_norm: x must be [..., H] with H > 0, got ", x.sizes());
  const int64_t n = x.size(-1);
  TORCH_CHECK(a.sizes() == x.sizes(), "add_layer_norm: a must have x's shape ", x.sizes(), ", got ", a.sizes());
  TORCH_CHECK(x.scalar_type() == a.scalar_type() && (x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16),
              "add_layer_norm: x and a must both be fp32 or both bf16, got ", x.scalar_type(), " and ",
              a.scalar_type());
  TORCH_CHECK(x.is_contiguous() && a.is_contiguous(), "add_layer_norm: x and a must be contiguous");
  TORCH_CHECK(gamma.dim() == 1 && gamma.size(0) == n && beta.dim() == 1 && beta.size(0) == n,
              "add_layer_norm: gamma and beta must be [", n, "], got ", gamma.sizes(), " and ", beta.sizes());
  TORCH_CHECK(gamma.scalar_type() == at::kFloat && beta.scalar_type() == at::kFloat,
              "add_layer_norm: gamma and beta must be fp32 (the masters), got ", gamma.scalar_type(), " and ",
              beta.scalar_type());
  TORCH_CHECK(a.device() == x.device() && gamma.device() == x.device() && beta.device() == x.device(),
              "add_layer_norm: x, a, gamma and beta must be on one device, got ", x.device(), ", ", a.device(), ", ",
              gamma.device(), " and ", beta.device());
  TORCH_CHECK(!x.is_cuda() || add_layer_norm_supported(x), "add_layer_norm on CUDA: H=", n,
              " must be a multiple of 8 and at most 4096 (x at a 16-byte aligned address); check ",
              "add_layer_norm_supported(x) and use x + a and at::layer_norm otherwise");
  const variable_list out = AddLayerNormFunction::apply(x.reshape({-1, n}), a.reshape({-1, n}), gamma.contiguous(),
                                                        beta.contiguous(), eps);
  if (x.dim() == 2) return {out[0], out[1]};
  return {out[0].view(x.sizes()), out[1].view(x.sizes())};
}

}  // namespace hetero
