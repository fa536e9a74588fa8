#include "optim/adamw.h"

#include <cmath>

#include <ATen/core/grad_mode.h>

namespace hetero {

AdamW::AdamW(std::vector<Param>& params, const TrainConfig& cfg) : params_(params), cfg_(cfg) {
  for (auto& p : params_) {
    exp_avg_.push_back(at::zeros_like(p.value, at::kFloat));
    exp_avg_sq_.push_back(at::zeros_like(p.value, at::kFloat));
  }
}

void AdamW::step(double lr, double weight_decay) {
  at::NoGradGuard no_grad;
  ++steps_;
  const double b1 = cfg_.adam_beta1, b2 = cfg_.adam_beta2;
  const double c1 = 1.0 - std::pow(b1, steps_), c2 = 1.0 - std::pow(b2, steps_);
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor w = params_[i].value;
    const at::Tensor g = w.grad();
    if (params_[i].decay && weight_decay > 0) w.mul_(1.0 - lr * weight_decay);
    exp_avg_[i].mul_(b1).add_(g, 1.0 - b1);
    exp_avg_sq_[i].mul_(b2).addcmul_(g, g, 1.0 - b2);
    const at::Tensor denom = (exp_avg_sq_[i] / c2).sqrt_().add_(cfg_.adam_eps);
    w.addcdiv_(exp_avg_[i], denom, -lr / c1);
  }
}

}  // namespace hetero
