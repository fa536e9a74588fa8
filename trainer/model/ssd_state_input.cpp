#include "model/ssd_state_input.h"

#include <torch/csrc/autograd/custom_function.h>

#include "kernels/ssd_state_input.h"
#include "model/ssd_x.h"
#ifdef HETERO_WITH_CUDA
#include "kernels/ssd_state_input_launch.h"
#endif

namespace hetero {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

SsdStateInputShape shape_of(const at::Tensor& x, const at::Tensor& to_end) {
  check_ssd_x(x, "ssd_state_input");
  TORCH_CHECK(to_end.dim() == 5, "ssd_state_input: to_end must be [b, c, g, hg, q], got ", to_end.sizes());
  SsdStateInputShape s;
  s.batch = x.size(0);
  s.length = ssd_x_length(x);
  s.head_dim = x.size(-1);
  s.chunks = to_end.size(1);
  s.groups = to_end.size(2);
  s.heads_per_group = to_end.size(3);
  s.chunk = to_end.size(4);
  TORCH_CHECK(to_end.size(0) == s.batch && s.groups * s.heads_per_group == ssd_x_heads(x) &&
                  s.length <= s.chunks * s.chunk && ssd_x_fits_chunks(x, s.chunks, s.chunk),
              "ssd_state_input: to_end ", to_end.sizes(), " does not match x ", x.sizes(),
              " (b, h = g * hg, and l <= c * q, or x's c and q)");
  TORCH_CHECK((x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16) && to_end.scalar_type() == at::kFloat,
              "ssd_state_input: x must be fp32 or bf16 and to_end fp32, got ", x.scalar_type(), " and ",
              to_end.scalar_type());
  s.x = ssd_x_strides(x, s.chunk);
  return s;
}

// The CPU loops, on fp32 copies (a bf16 x converts exactly); results rounded once.
at::Tensor forward_cpu(const at::Tensor& x, const at::Tensor& to_end, const SsdStateInputShape& shape) {
  const at::Tensor xf = x.to(at::kFloat);
  SsdStateInputShape s = shape;
  s.x = ssd_x_strides(xf, s.chunk);
  at::Tensor out = at::empty({s.batch, s.chunks, s.groups, s.chunk, s.heads_per_group * s.head_dim}, xf.options());
  const float *xp = xf.data_ptr<float>(), *wp = to_end.data_ptr<float>();
  float* op = out.data_ptr<float>();
  for (int64_t row = 0; row < s.rows(); ++row) {
    const SsdStateInputRow r = ssd_state_input_row(s, row);
    for (int64_t k = 0; k < s.head_dim; ++k) op[r.out + k] = r.padding ? 0.0f : xp[r.x + k] * wp[r.to_end];
  }
  return out.to(x.scalar_type());
}

std::pair<at::Tensor, at::Tensor> backward_cpu(const at::Tensor& d_weighted, const at::Tensor& x,
                                               const at::Tensor& to_end, const SsdStateInputShape& shape) {
  const at::Tensor xf = x.to(at::kFloat), g = d_weighted.to(at::kFloat).contiguous();
  at::Tensor dx = ssd_x_gradient_buffer(x, xf.options()), d_to_end = at::zeros_like(to_end);
  SsdStateInputShape s = shape;
  s.x = ssd_x_strides(xf, s.chunk);
  s.dx = ssd_x_strides(dx, s.chunk);
  const float *xp = xf.data_ptr<float>(), *wp = to_end.data_ptr<float>(), *gp = g.data_ptr<float>();
  float *dxp = dx.data_ptr<float>(), *dwp = d_to_end.data_ptr<float>();
  for (int64_t row = 0; row < s.rows(); ++row) {
    const SsdStateInputRow r = ssd_state_input_row(s, row);
    if (r.padding) continue;
    float sum = 0;
    for (int64_t k = 0; k < s.head_dim; ++k) {
      dxp[r.dx + k] = gp[r.out + k] * wp[r.to_end];
      sum += gp[r.out + k] * xp[r.x + k];
    }
    dwp[r.to_end] = sum;
  }
  return {dx.to(x.scalar_type()), d_to_end};
}

struct SsdStateInput : torch::autograd::Function<SsdStateInput> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& to_end) {
    const at::Tensor xc = x.stride(-1) == 1 ? x : x.contiguous(), w = to_end.contiguous();
    ctx->save_for_backward({xc, w});
    const SsdStateInputShape s = shape_of(xc, w);
#ifdef HETERO_WITH_CUDA
    if (xc.is_cuda()) return ssd_state_input_cuda(xc, w, s);
#endif
    return forward_cpu(xc, w, s);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &to_end = saved[1];
    SsdStateInputShape s = shape_of(x, to_end);
    const at::Tensor g = grads[0].to(x.scalar_type()).contiguous();
#ifdef HETERO_WITH_CUDA
    if (x.is_cuda()) {
      at::Tensor dx = ssd_x_gradient_buffer(x, x.options());
      s.dx = ssd_x_strides(dx, s.chunk);
      const at::Tensor d_to_end = ssd_state_input_backward_cuda(g, x, to_end, dx, s);
      return {dx, d_to_end};
    }
#endif
    const auto [dx, d_to_end] = backward_cpu(g, x, to_end, s);
    return {dx, d_to_end};
  }
};

}  // namespace

at::Tensor ssd_state_input(const at::Tensor& x, const at::Tensor& to_end) {
  shape_of(x, to_end);  // validate before autograd records anything
  return SsdStateInput::apply(x, to_end);
}

}  // namespace hetero
