#include "optim/adamw_step.h"

#include <cmath>

#include "kernels/adamw.h"
#ifdef HETERO_WITH_CUDA
#include "kernels/adamw_launch.h"
#endif

namespace hetero {
namespace {

AdamWScalars scalars_of(const AdamWStepConfig& c) {
  AdamWScalars s;
  s.decay = static_cast<float>(c.decay);
  s.beta1 = static_cast<float>(c.beta1);
  s.one_minus_beta1 = static_cast<float>(1.0 - c.beta1);
  s.beta2 = static_cast<float>(c.beta2);
  s.one_minus_beta2 = static_cast<float>(1.0 - c.beta2);
  s.inv_bias_correction2 = static_cast<float>(1.0 / (1.0 - std::pow(c.beta2, c.step)));
  s.eps = static_cast<float>(c.eps);
  s.step_size = static_cast<float>(-c.lr / (1.0 - std::pow(c.beta1, c.step)));
  s.grad_scale = static_cast<float>(c.grad_scale);
  return s;
}

void check_alike(const at::Tensor& w, const at::Tensor& g, const at::Tensor& m, const at::Tensor& v,
                 const at::Tensor& decay_mask) {
  TORCH_CHECK(g.numel() == w.numel() && m.numel() == w.numel() && v.numel() == w.numel(), "adamw_step: w ",
              w.sizes(), ", g ", g.sizes(), ", m ", m.sizes(), " and v ", v.sizes(), " must have one element count");
  TORCH_CHECK(!decay_mask.defined() || (decay_mask.numel() == w.numel() && decay_mask.scalar_type() == at::kBool),
              "adamw_step: the decay mask must be bool with one element per weight");
}

// The same per-element math as the kernel, over contiguous fp32 CPU tensors.
void loop_cpu(at::Tensor& w, const at::Tensor& g, at::Tensor& m, at::Tensor& v, const at::Tensor& decay_mask,
              const AdamWScalars& s) {
  TORCH_CHECK(w.scalar_type() == at::kFloat && g.scalar_type() == at::kFloat && m.scalar_type() == at::kFloat &&
                  v.scalar_type() == at::kFloat && w.is_contiguous() && g.is_contiguous() && m.is_contiguous() &&
                  v.is_contiguous(),
              "adamw_step_fused on the CPU: w, g, m and v must be contiguous fp32");
  float *wp = w.data_ptr<float>(), *mp = m.data_ptr<float>(), *vp = v.data_ptr<float>();
  const float* gp = g.data_ptr<float>();
  const at::Tensor mask = decay_mask.defined() ? decay_mask.contiguous() : at::Tensor();
  const bool* maskp = mask.defined() ? mask.data_ptr<bool>() : nullptr;
  for (int64_t i = 0; i < w.numel(); ++i)
    adamw_element(wp[i], gp[i], mp[i], vp[i], maskp == nullptr || maskp[i] ? s.decay : 1.0f, s);
}

}  // namespace

bool adamw_step_fusable(const at::Tensor& w, const at::Tensor& g, const at::Tensor& m, const at::Tensor& v) {
  for (const at::Tensor* t : {&w, &g, &m, &v})
    if (!t->is_cuda() || t->scalar_type() != at::kFloat || !t->is_contiguous() || t->device() != w.device())
      return false;
  return true;
}

void adamw_step_reference(at::Tensor& w, const at::Tensor& grad, at::Tensor& m, at::Tensor& v,
                          const at::Tensor& decay_mask, const AdamWStepConfig& cfg) {
  check_alike(w, grad, m, v, decay_mask);
  // The values of grad.mul_(grad_scale), grad left as it is.
  const at::Tensor g = cfg.grad_scale == 1.0 ? grad : grad.mul(cfg.grad_scale);
  const double b1 = cfg.beta1, b2 = cfg.beta2;
  const double c1 = 1.0 - std::pow(b1, cfg.step), c2 = 1.0 - std::pow(b2, cfg.step);
  if (decay_mask.defined())
    w.mul_(at::where(decay_mask.view(w.sizes()), at::scalar_tensor(cfg.decay, w.options()),
                     at::scalar_tensor(1.0, w.options())));
  else
    w.mul_(cfg.decay);
  m.mul_(b1).add_(g, 1.0 - b1);
  v.mul_(b2).addcmul_(g, g, 1.0 - b2);
  const at::Tensor denom = (v / c2).sqrt_().add_(cfg.eps);
  w.addcdiv_(m, denom, -cfg.lr / c1);
}

void adamw_step_fused(at::Tensor& w, const at::Tensor& g, at::Tensor& m, at::Tensor& v, const at::Tensor& decay_mask,
                      const AdamWStepConfig& cfg) {
  check_alike(w, g, m, v, decay_mask);
  const AdamWScalars s = scalars_of(cfg);
  if (w.is_cuda()) {
    TORCH_CHECK(adamw_step_fusable(w, g, m, v), "adamw_step_fused on CUDA: w, g, m and v must be contiguous fp32 ",
                "on one device; use adamw_step");
#ifdef HETERO_WITH_CUDA
    adamw_step_cuda(w, g, m, v, decay_mask.defined() ? decay_mask.contiguous() : decay_mask, s);
    return;
#endif
  }
  loop_cpu(w, g, m, v, decay_mask, s);
}

void adamw_step(at::Tensor& w, const at::Tensor& g, at::Tensor& m, at::Tensor& v, const at::Tensor& decay_mask,
                const AdamWStepConfig& cfg) {
  if (adamw_step_fusable(w, g, m, v))
    adamw_step_fused(w, g, m, v, decay_mask, cfg);
  else
    adamw_step_reference(w, g, m, v, decay_mask, cfg);
}

}  // namespace hetero
