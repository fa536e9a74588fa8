// Both optimizers (make_optimizer, plain and distributed) take the clipping
// factor as step(lr, wd, grad_scale). The check's two halves on one device:
// the same parameters stepped three times once on gradients multiplied by
// the factor beforehand and once with the factor passed to the step. The
// CPU test wants them bit for bit equal, the GPU test to fp32 rounding.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "optim/adamw.h"

namespace hetero::test {

struct GradScaleRun {
  std::vector<Param> scaled;  // gradients scaled first, step(lr, wd, 1)
  std::vector<Param> folded;  // step(lr, wd, factor)
  bool grads_untouched = true;  // the folded step left every gradient as it was
};

// Three parameters of 37, `large` and 5 elements on `group.device` (the
// last without weight decay), factors 0.25, 1, 0.083 over the three steps.
inline GradScaleRun step_with_grad_scale(const Group& group, int64_t large, bool distributed) {
  TrainConfig cfg;
  cfg.adam_beta2 = 0.95;
  auto make_params = [&] {
    torch::manual_seed(3);
    std::vector<Param> params;
    for (const int64_t n : {int64_t{37}, large, int64_t{5}}) {
      Param p;
      p.name = "p" + std::to_string(n);
      p.value = torch::randn({n}).to(group.device).set_requires_grad(true);
      p.decay = n != 5;
      params.push_back(p);
    }
    return params;
  };
  GradScaleRun run{make_params(), make_params()};
  const std::unique_ptr<Optimizer> a = make_optimizer(run.scaled, cfg, group, distributed);
  const std::unique_ptr<Optimizer> b = make_optimizer(run.folded, cfg, group, distributed);
  for (int step = 1; step <= 3; ++step) {
    const double factor = step == 2 ? 1.0 : 0.25 / step;
    std::vector<at::Tensor> raw;
    for (size_t i = 0; i < run.scaled.size(); ++i) {
      const at::Tensor g = torch::randn(run.scaled[i].value.sizes()).to(group.device);
      run.scaled[i].value.mutable_grad() = g.clone();
      run.folded[i].value.mutable_grad() = g.clone();
      raw.push_back(g);
    }
    {
      at::NoGradGuard no_grad;
      for (Param& p : run.scaled) p.value.mutable_grad().mul_(factor);
    }
    a->step(3e-3, 0.1, 1.0);
    b->step(3e-3, 0.1, factor);
    for (size_t i = 0; i < raw.size(); ++i)
      run.grads_untouched = run.grads_untouched && at::equal(run.folded[i].value.grad(), raw[i]);
  }
  return run;
}

}  // namespace hetero::test
