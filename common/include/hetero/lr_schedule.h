// Learning-rate schedule: linear warm-up, then constant, linear or cosine
// decay to min_lr over the remaining iterations.
#pragma once

#include <string>

namespace hetero {

struct LrSchedule {
  double max_lr = 0, min_lr = 0;
  int warmup_iters = 0;
  int decay_iters = 0;  // the iteration where decay ends
  std::string style = "constant";

  // LR used by the optimizer step of 1-based iteration `iter`.
  double at(int iter) const;
};

}  // namespace hetero
