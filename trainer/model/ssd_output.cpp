#include "model/ssd_output.h"

#include <cmath>

#include <torch/csrc/autograd/custom_function.h>

#include "kernels/ssd_output.h"
#include "model/ssd_x.h"
#ifdef HETERO_WITH_CUDA
#include "kernels/ssd_output_launch.h"
#endif

namespace hetero {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The layout, from a_cum [b, c, g, hg, q] and x [b, l, h, p] or [b, c, q, h,
// p]: all the op's operands follow from these two.
SsdOutputShape shape_from(const at::Tensor& a_cum, const at::Tensor& x) {
  SsdOutputShape s;
  s.batch = a_cum.size(0);
  s.chunks = a_cum.size(1);
  s.groups = a_cum.size(2);
  s.heads_per_group = a_cum.size(3);
  s.chunk = a_cum.size(4);
  s.head_dim = x.size(-1);
  s.length = ssd_x_length(x);
  s.x = ssd_x_strides(x, s.chunk);
  return s;
}

void check_operands(const at::Tensor& y_intra, const at::Tensor& y_inter, const at::Tensor& a_cum, const at::Tensor& x,
                    const c10::optional<at::Tensor>& D) {
  check_ssd_x(x, "ssd_chunk_output");
  TORCH_CHECK(y_intra.dim() == 6 && a_cum.dim() == 5, "ssd_chunk_output: y_intra must be [b, c, g, hg, q, p] and ",
              "a_cum [b, c, g, hg, q], got ", y_intra.sizes(), " and ", a_cum.sizes());
  const SsdOutputShape s = shape_from(a_cum, x);
  TORCH_CHECK(
      y_intra.sizes() == at::IntArrayRef({s.batch, s.chunks, s.groups, s.heads_per_group, s.chunk, s.head_dim}),
      "ssd_chunk_output: y_intra ", y_intra.sizes(), " does not match a_cum ", a_cum.sizes(), " and x ", x.sizes());
  TORCH_CHECK(y_inter.sizes() == at::IntArrayRef({s.batch, s.chunks, s.groups, s.chunk, s.heads_per_group * s.head_dim}),
              "ssd_chunk_output: y_inter ", y_inter.sizes(), " does not match y_intra ", y_intra.sizes());
  TORCH_CHECK(x.size(0) == s.batch && ssd_x_heads(x) == s.heads() && s.length <= s.chunks * s.chunk &&
                  ssd_x_fits_chunks(x, s.chunks, s.chunk),
              "ssd_chunk_output: x ", x.sizes(), " does not match y_intra ", y_intra.sizes(),
              " (b, h = g * hg, p, and l <= c * q, or x's c and q)");
  TORCH_CHECK(y_intra.scalar_type() == x.scalar_type() && y_inter.scalar_type() == x.scalar_type() &&
                  (x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16) &&
                  a_cum.scalar_type() == at::kFloat,
              "ssd_chunk_output: y_intra, y_inter and x must share the matmul dtype (fp32 or bf16) and a_cum be fp32");
  TORCH_CHECK(!D || (D->dim() == 1 && D->size(0) == s.heads() && D->scalar_type() == at::kFloat),
              "ssd_chunk_output: D must be fp32 [", s.heads(), "]");
}

// The CPU loops, on fp32 copies (a bf16 input converts exactly); results rounded once.
at::Tensor forward_cpu(const at::Tensor& y_intra, const at::Tensor& y_inter, const at::Tensor& a_cum,
                       const at::Tensor& x, const c10::optional<at::Tensor>& D, const SsdOutputShape& s) {
  const at::Tensor yi = y_intra.to(at::kFloat).contiguous(), yr = y_inter.to(at::kFloat).contiguous();
  const at::Tensor a = a_cum.contiguous(), xf = x.to(at::kFloat);
  const at::Tensor d = D ? D->contiguous() : at::Tensor();
  at::Tensor out = at::empty({s.batch, s.length, s.heads(), s.head_dim}, a.options());
  SsdOutputShape f = s;
  f.x = ssd_x_strides(xf, f.chunk);
  const float *yip = yi.data_ptr<float>(), *yrp = yr.data_ptr<float>(), *ap = a.data_ptr<float>(),
              *xp = xf.data_ptr<float>(), *dp = d.defined() ? d.data_ptr<float>() : nullptr;
  float* op = out.data_ptr<float>();
  for (int64_t row = 0; row < f.rows(); ++row) {
    const SsdOutputRow r = ssd_output_row(f, row);
    const float decay = std::exp(ap[r.a_cum]), dd = dp == nullptr ? 0.0f : dp[row % f.heads()];
    for (int64_t k = 0; k < f.head_dim; ++k)
      op[r.out + k] = ssd_output_value(yip[r.y_intra + k], yrp[r.y_inter + k], decay, xp[r.x + k], dd);
  }
  return out;
}

variable_list backward_cpu(const at::Tensor& dy, const at::Tensor& y_inter, const at::Tensor& a_cum,
                           const at::Tensor& x, const at::Tensor& D, const SsdOutputShape& s) {
  const at::Tensor yr = y_inter.to(at::kFloat).contiguous(), xf = x.to(at::kFloat);
  const at::Tensor g = dy.to(at::kFloat).contiguous();
  at::Tensor d_yi = at::zeros({s.batch, s.chunks, s.groups, s.heads_per_group, s.chunk, s.head_dim}, a_cum.options());
  at::Tensor d_yr = at::zeros_like(yr), d_a = at::zeros_like(a_cum), dx = ssd_x_gradient_buffer(x, g.options());
  at::Tensor dD = D.defined() ? at::zeros_like(D) : at::Tensor();
  SsdOutputShape f = s;
  f.x = ssd_x_strides(xf, f.chunk);
  f.dx = ssd_x_strides(dx, f.chunk);
  const float *gp = g.data_ptr<float>(), *yrp = yr.data_ptr<float>(), *ap = a_cum.data_ptr<float>(),
              *xp = xf.data_ptr<float>(), *dp = D.defined() ? D.data_ptr<float>() : nullptr;
  float *dyip = d_yi.data_ptr<float>(), *dyrp = d_yr.data_ptr<float>(), *dap = d_a.data_ptr<float>(),
        *dxp = dx.data_ptr<float>(), *dDp = dD.defined() ? dD.data_ptr<float>() : nullptr;
  for (int64_t row = 0; row < f.rows(); ++row) {
    const SsdOutputRow r = ssd_output_row(f, row);
    const float decay = std::exp(ap[r.a_cum]), dd = dp == nullptr ? 0.0f : dp[row % f.heads()];
    float to_decay = 0, to_d = 0;
    for (int64_t k = 0; k < f.head_dim; ++k) {
      const float gk = gp[r.out + k];
      dyip[r.y_intra + k] = gk;
      dyrp[r.y_inter + k] = gk * decay;
      dxp[r.dx + k] = gk * dd;
      to_decay += gk * yrp[r.y_inter + k];
      to_d += gk * xp[r.x + k];
    }
    dap[r.a_cum] = to_decay * decay;
    if (dDp != nullptr) dDp[row % f.heads()] += to_d;
  }
  const at::ScalarType mm = x.scalar_type();
  return {d_yi.to(mm), d_yr.to(mm), d_a, dx.to(mm), dD};
}

struct SsdChunkOutput : torch::autograd::Function<SsdChunkOutput> {
  // D is optional rather than an undefined tensor: LibTorch 2.x records a
  // device for every tensor input of a Function.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& y_intra, const at::Tensor& y_inter,
                            const at::Tensor& a_cum, const at::Tensor& x, const c10::optional<at::Tensor>& D) {
    const at::Tensor yi = y_intra.contiguous(), yr = y_inter.contiguous(), a = a_cum.contiguous();
    const at::Tensor xc = x.stride(-1) == 1 ? x : x.contiguous();
    const SsdOutputShape s = shape_from(a, xc);
    ctx->save_for_backward({yr, a, xc, D ? *D : at::Tensor()});
    ctx->saved_data["has_d"] = D.has_value();
#ifdef HETERO_WITH_CUDA
    if (xc.is_cuda()) return ssd_output_cuda(yi, yr, a, xc, D ? D->contiguous() : at::Tensor(), s);
#endif
    return forward_cpu(yi, yr, a, xc, D, s);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor &yr = saved[0], &a = saved[1], &x = saved[2];
    const at::Tensor D = ctx->saved_data["has_d"].toBool() ? saved[3] : at::Tensor();
    SsdOutputShape s = shape_from(a, x);
    const at::Tensor dy = grads[0].to(at::kFloat).contiguous();
#ifdef HETERO_WITH_CUDA
    if (x.is_cuda()) {
      const at::Tensor dx = ssd_x_gradient_buffer(x, x.options());
      s.dx = ssd_x_strides(dx, s.chunk);
      const SsdOutputGrads g = ssd_output_backward_cuda(dy, yr, a, x, D.defined() ? D.contiguous() : D, dx, s);
      return {g.d_y_intra, g.d_y_inter, g.d_a_cum, g.dx, g.dD};
    }
#endif
    return backward_cpu(dy, yr, a, x, D, s);
  }
};

}  // namespace

at::Tensor ssd_chunk_output(const at::Tensor& y_intra, const at::Tensor& y_inter, const at::Tensor& a_cum,
                            const at::Tensor& x, const at::Tensor& D) {
  const c10::optional<at::Tensor> d = D.defined() ? c10::make_optional(D) : c10::nullopt;
  check_operands(y_intra, y_inter, a_cum, x, d);  // before autograd records anything
  return SsdChunkOutput::apply(y_intra, y_inter, a_cum, x, d);
}

}  // namespace hetero
