#include "model/ssd_state_passing.h"

#include <cmath>

#include <torch/csrc/autograd/custom_function.h>

#include "kernels/ssd_state_passing.h"
#ifdef HETERO_WITH_CUDA
#include "kernels/ssd_state_passing_launch.h"
#endif

namespace hetero {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

SsdStatePassingShape shape_of(const at::Tensor& own, const at::Tensor& chunk_log) {
  TORCH_CHECK(own.dim() == 6 && chunk_log.dim() == 4, "ssd_state_passing: own must be [b, c, g, m, hg, w] and ",
              "chunk_log [b, c, g, hg], got ", own.sizes(), " and ", chunk_log.sizes());
  TORCH_CHECK(chunk_log.sizes() == at::IntArrayRef({own.size(0), own.size(1), own.size(2), own.size(4)}),
              "ssd_state_passing: chunk_log ", chunk_log.sizes(), " does not match own ", own.sizes(),
              " (the same b, c, g, hg)");
  TORCH_CHECK((own.scalar_type() == at::kFloat || own.scalar_type() == at::kBFloat16) &&
                  chunk_log.scalar_type() == at::kFloat,
              "ssd_state_passing: own must be fp32 or bf16 and chunk_log fp32, got ", own.scalar_type(), " and ",
              chunk_log.scalar_type());
  return {own.size(0), own.size(1), own.size(2), own.size(3), own.size(4), own.size(5)};
}

// The CPU loops, on fp32 copies (a bf16 own converts exactly); results rounded once.
at::Tensor forward_cpu(const at::Tensor& own, const at::Tensor& chunk_log, const SsdStatePassingShape& s) {
  const at::Tensor of = own.to(at::kFloat).contiguous();
  at::Tensor entering = at::empty_like(of);
  const float *op = of.data_ptr<float>(), *lp = chunk_log.data_ptr<float>();
  float* ep = entering.data_ptr<float>();
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t h = 0; h < s.heads(); ++h)
      for (int64_t w = 0; w < s.head_width(); ++w) {
        const int64_t o = s.of_head(h, w);
        float state = 0.0f;
        for (int64_t k = 0; k < s.chunks; ++k) {
          ep[s.at(b, k, o)] = state;
          state = std::exp(lp[s.log_at(b, k, h)]) * state + op[s.at(b, k, o)];
        }
      }
  return entering.to(own.scalar_type());
}

// mu, the gradient reaching the state that leaves chunk k, runs from the
// last chunk back: d_own[k] = mu, d_log[k] = exp(log[k]) * sum_w mu * entering[k].
std::pair<at::Tensor, at::Tensor> backward_cpu(const at::Tensor& d_entering, const at::Tensor& own,
                                               const at::Tensor& chunk_log, const SsdStatePassingShape& s) {
  const at::Tensor states = forward_cpu(own.to(at::kFloat), chunk_log, s);  // fp32, as the kernel recomputes them
  const at::Tensor g = d_entering.to(at::kFloat).contiguous();
  at::Tensor d_own = at::empty_like(states), d_log = at::zeros_like(chunk_log);
  const float *sp = states.data_ptr<float>(), *gp = g.data_ptr<float>(), *lp = chunk_log.data_ptr<float>();
  float *dop = d_own.data_ptr<float>(), *dlp = d_log.data_ptr<float>();
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t h = 0; h < s.heads(); ++h)
      for (int64_t w = 0; w < s.head_width(); ++w) {
        const int64_t o = s.of_head(h, w);
        float mu = 0.0f;
        for (int64_t k = s.chunks - 1; k >= 0; --k) {
          const int64_t i = s.at(b, k, o);
          const float decay = std::exp(lp[s.log_at(b, k, h)]);
          dlp[s.log_at(b, k, h)] += decay * mu * sp[i];
          dop[i] = mu;
          mu = gp[i] + decay * mu;
        }
      }
  return {d_own.to(own.scalar_type()), d_log};
}

struct SsdStatePassing : torch::autograd::Function<SsdStatePassing> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& own, const at::Tensor& chunk_log) {
    const at::Tensor o = own.contiguous(), l = chunk_log.contiguous();
    // own rather than the fp32 states: half the memory held for the backward, which recomputes them.
    ctx->save_for_backward({o, l});
    const SsdStatePassingShape s = shape_of(o, l);
#ifdef HETERO_WITH_CUDA
    if (o.is_cuda()) return ssd_state_passing_cuda(o, l, s);
#endif
    return forward_cpu(o, l, s);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor &own = saved[0], &chunk_log = saved[1];
    const SsdStatePassingShape s = shape_of(own, chunk_log);
    const at::Tensor g = grads[0].to(own.scalar_type()).contiguous();
#ifdef HETERO_WITH_CUDA
    if (own.is_cuda()) {
      const auto [d_own, d_log] = ssd_state_passing_backward_cuda(g, own, chunk_log, s);
      return {d_own, d_log};
    }
#endif
    const auto [d_own, d_log] = backward_cpu(g, own, chunk_log, s);
    return {d_own, d_log};
  }
};

}  // namespace

at::Tensor ssd_state_passing(const at::Tensor& own, const at::Tensor& chunk_log) {
  shape_of(own, chunk_log);  // validate before autograd records anything
  return SsdStatePassing::apply(own, chunk_log);
}

}  // namespace hetero
