// AdamW with decoupled weight decay (none on norms), one per module.
#pragma once

#include <vector>

#include <ATen/ATen.h>

#include "hetero/recipe.h"
#include "model/params.h"

namespace hetero {

class AdamW {
 public:
  AdamW(std::vector<Param>& params, const TrainConfig& cfg);
  void step(double lr, double weight_decay);

 private:
  std::vector<Param>& params_;
  TrainConfig cfg_;
  std::vector<at::Tensor> exp_avg_, exp_avg_sq_;
  int steps_ = 0;
};

}  // namespace hetero
