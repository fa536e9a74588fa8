#include "model/gated_rms_norm.h"

#include <tuple>

#include <torch/csrc/autograd/custom_function.h>

#include "kernels/gated_rms_norm.h"
#ifdef HETERO_WITH_CUDA
#include "kernels/gated_rms_norm_launch.h"
#endif

namespace hetero {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// z as [T, groups, n] without a copy (undefined stays undefined: no gate).
at::Tensor gate_rows(const at::Tensor& z, int64_t groups) {
  if (!z.defined() || z.dim() == 3) return z;
  return z.view({z.size(0), groups, z.size(1) / groups});
}

// The rows' geometry: (tokens, groups, n), from z, or from y without a gate.
std::tuple<int64_t, int64_t, int64_t> rows_of(const at::Tensor& y, const at::Tensor& z3) {
  if (!z3.defined()) return {y.size(0), 1, y.size(1)};
  return {z3.size(0), z3.size(1), z3.size(2)};
}

// Row `row`'s gate values, or nullptr without a gate.
template <typename Z>
const Z* gate_row(const at::Tensor& z3, int64_t row, int64_t groups) {
  if (!z3.defined()) return nullptr;
  return z3.data_ptr<Z>() + row / groups * z3.stride(0) + row % groups * z3.stride(1);
}

template <typename Z>
float gate_input(const Z* z_row, int64_t c, float y) {
  return z_row ? gated_value(y, static_cast<float>(z_row[c])) : y;
}

// The CPU loop over rows (token, group) of a contiguous fp32 y, any-strided z.
template <typename Z>
std::tuple<at::Tensor, at::Tensor> forward_cpu(const at::Tensor& y, const at::Tensor& z3, const at::Tensor& w,
                                               double eps) {
  const auto [tokens, groups, n] = rows_of(y, z3);
  at::Tensor out = at::empty({tokens, groups * n}, y.options()), rstd = at::empty({tokens, groups}, y.options());
  const float *yp = y.data_ptr<float>(), *wp = w.data_ptr<float>();
  float *op = out.data_ptr<float>(), *rp = rstd.data_ptr<float>();
  for (int64_t row = 0; row < tokens * groups; ++row) {
    const Z* z_row = gate_row<Z>(z3, row, groups);
    const float *y_row = yp + row * n, *w_row = wp + row % groups * n;
    float squares = 0;
    for (int64_t c = 0; c < n; ++c) {
      const float g = gate_input(z_row, c, y_row[c]);
      squares += g * g;
    }
    rp[row] = gated_rstd(squares, static_cast<int>(n), static_cast<float>(eps));
    for (int64_t c = 0; c < n; ++c) op[row * n + c] = gated_normed(gate_input(z_row, c, y_row[c]), rp[row], w_row[c]);
  }
  return {out, rstd};
}

template <typename Z>
std::tuple<at::Tensor, at::Tensor, at::Tensor> backward_cpu(const at::Tensor& d_out, const at::Tensor& y,
                                                            const at::Tensor& z3, const at::Tensor& w,
                                                            const at::Tensor& rstd) {
  const auto [tokens, groups, n] = rows_of(y, z3);
  at::Tensor dy = at::empty_like(y), dw = at::zeros_like(w);
  at::Tensor dz = z3.defined() ? at::empty(z3.sizes(), y.options()) : at::Tensor();
  const float *dop = d_out.data_ptr<float>(), *yp = y.data_ptr<float>(), *wp = w.data_ptr<float>(),
              *rp = rstd.data_ptr<float>();
  float *dyp = dy.data_ptr<float>(), *dzp = dz.defined() ? dz.data_ptr<float>() : nullptr, *dwp = dw.data_ptr<float>();
  for (int64_t row = 0; row < tokens * groups; ++row) {
    const Z* z_row = gate_row<Z>(z3, row, groups);
    const float *y_row = yp + row * n, *w_row = wp + row % groups * n, *do_row = dop + row * n;
    float dot = 0;
    for (int64_t c = 0; c < n; ++c) dot += gated_dot_term(do_row[c], gate_input(z_row, c, y_row[c]), rp[row], w_row[c]);
    const float mean_dot = dot / static_cast<float>(n);
    for (int64_t c = 0; c < n; ++c) {
      const GatedRmsNormGrad g =
          z_row ? gated_rms_norm_grad(do_row[c], y_row[c], static_cast<float>(z_row[c]), w_row[c], rp[row], mean_dot)
                : rms_norm_grad(do_row[c], y_row[c], w_row[c], rp[row], mean_dot);
      dyp[row * n + c] = g.dy;
      if (dzp) dzp[row * n + c] = g.dz;
      dwp[row % groups * n + c] += g.dw;
    }
  }
  return {dy, dz.defined() ? dz.to(z3.scalar_type()) : dz, dw};
}

bool bf16_gate(const at::Tensor& z3) { return z3.defined() && z3.scalar_type() == at::kBFloat16; }

struct GatedRmsNorm : torch::autograd::Function<GatedRmsNorm> {
  // z is optional rather than an undefined tensor: LibTorch 2.x records a
  // device for every tensor input of a Function. Without it, no gate.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& y, const c10::optional<at::Tensor>& z_in,
                            const at::Tensor& w, int64_t groups, double eps, at::ScalarType out_dtype,
                            const GradientInto& dz_into) {
    const at::Tensor z = z_in ? *z_in : at::Tensor();
    save_gradient_into(ctx, "dz_into", dz_into);
    const at::Tensor y2 = y.contiguous(), z3 = gate_rows(z, groups), w1 = w.contiguous();
    std::tuple<at::Tensor, at::Tensor> r;
#ifdef HETERO_WITH_CUDA
    if (y2.is_cuda()) r = gated_rms_norm_cuda(y2, z3, w1, eps, out_dtype);
#endif
    if (!y2.is_cuda()) {
      r = bf16_gate(z3) ? forward_cpu<at::BFloat16>(y2, z3, w1, eps) : forward_cpu<float>(y2, z3, w1, eps);
      std::get<0>(r) = std::get<0>(r).to(out_dtype);
    }
    ctx->save_for_backward({y2, z3, w1, std::get<1>(r)});
    if (z.defined()) ctx->saved_data["gate_sizes"] = z.sizes().vec();
    return std::get<0>(r);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list s = ctx->get_saved_variables();
    const at::Tensor &y = s[0], &z3 = s[1], &w = s[2], &rstd = s[3];
    const GradientInto into = saved_gradient_into(ctx, "dz_into");
    std::tuple<at::Tensor, at::Tensor, at::Tensor> g;
#ifdef HETERO_WITH_CUDA
    if (y.is_cuda())
      g = gated_rms_norm_backward_cuda(grads[0].contiguous(), y, z3, w, rstd, into.slice());
#endif
    if (!y.is_cuda()) {
      const at::Tensor d_out = grads[0].to(at::kFloat).contiguous();
      g = bf16_gate(z3) ? backward_cpu<at::BFloat16>(d_out, y, z3, w, rstd) : backward_cpu<float>(d_out, y, z3, w, rstd);
      if (into.defined()) std::get<1>(g) = gradient_into(std::get<1>(g), into);
    }
    const at::Tensor dz =
        z3.defined() ? std::get<1>(g).view(ctx->saved_data["gate_sizes"].toIntVector()) : at::Tensor();
    return {std::get<0>(g), dz, std::get<2>(g), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor gated_rms_norm(const at::Tensor& y, const at::Tensor& z, const at::Tensor& w, int64_t groups, double eps,
                          at::ScalarType out_dtype, const GradientInto& dz_into) {
  TORCH_CHECK(y.dim() == 2 && groups > 0 && y.size(1) % groups == 0, "gated_rms_norm: y must be [T, groups * n] with ",
              "groups=", groups, " dividing its width, got ", y.sizes());
  const int64_t tokens = y.size(0), n = y.size(1) / groups;
  const bool z_matches = (z.dim() == 2 && z.size(0) == tokens && z.size(1) == groups * n) ||
                         (z.dim() == 3 && z.size(0) == tokens && z.size(1) == groups && z.size(2) == n);
  TORCH_CHECK(z_matches, "gated_rms_norm: z must be [", tokens, ", ", groups * n, "] or [", tokens, ", ", groups, ", ",
              n, "] like y ", y.sizes(), ", got ", z.sizes());
  TORCH_CHECK(z.stride(-1) == 1 || n == 1, "gated_rms_norm: z's last dim must be contiguous (stride 1), got strides ",
              z.strides(), "; pass z.contiguous()");
  TORCH_CHECK(w.dim() == 1 && w.size(0) == groups * n, "gated_rms_norm: w must be [", groups * n, "], got ", w.sizes());
  TORCH_CHECK(y.scalar_type() == at::kFloat && w.scalar_type() == at::kFloat, "gated_rms_norm: y and w must be fp32, ",
              "got ", y.scalar_type(), " and ", w.scalar_type());
  TORCH_CHECK(z.scalar_type() == at::kFloat || z.scalar_type() == at::kBFloat16, "gated_rms_norm: z's dtype ",
              z.scalar_type(), " is not fp32 or bf16");
  TORCH_CHECK(out_dtype == at::kFloat || out_dtype == at::kBFloat16, "gated_rms_norm: out_dtype ", out_dtype,
              " is not fp32 or bf16");
  dz_into.check_matches(z, "gated_rms_norm");
  return GatedRmsNorm::apply(y, c10::make_optional(z), w, groups, eps, out_dtype, dz_into);
}

at::Tensor rms_norm_fused(const at::Tensor& x, const at::Tensor& w, double eps, at::ScalarType out_dtype) {
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) > 0, "rms_norm_fused: x must be [..., H] with H > 0, got ", x.sizes());
  const int64_t n = x.size(-1);
  TORCH_CHECK(w.dim() == 1 && w.size(0) == n, "rms_norm_fused: w must be [", n, "], got ", w.sizes());
  TORCH_CHECK(x.scalar_type() == at::kFloat && w.scalar_type() == at::kFloat, "rms_norm_fused: x and w must be fp32, ",
              "got ", x.scalar_type(), " and ", w.scalar_type());
  TORCH_CHECK(out_dtype == at::kFloat || out_dtype == at::kBFloat16, "rms_norm_fused: out_dtype ", out_dtype,
              " is not fp32 or bf16");
  TORCH_CHECK(!x.is_cuda() || rms_norm_fused_supported(x), "rms_norm_fused on CUDA: H=", n, " exceeds the kernels' ",
              "limit of ", kGatedRmsNormMaxRow, " channels; check rms_norm_fused_supported(x)");
  std::vector<int64_t> sizes = x.sizes().vec();
  sizes.back() = n;
  return GatedRmsNorm::apply(x.reshape({-1, n}), c10::nullopt, w, 1, eps, out_dtype, GradientInto{}).view(sizes);
}

bool rms_norm_fused_supported(const at::Tensor& x) {
#ifdef HETERO_WITH_CUDA
  return x.is_cuda() && x.dim() >= 1 && x.size(-1) > 0 && x.size(-1) <= kGatedRmsNormMaxRow;
#else
  (void)x;
  return false;
#endif
}

}  // namespace hetero
