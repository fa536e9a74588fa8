// AdamW with decoupled weight decay (none on norms), one per module, and
// its distributed form whose state is sharded over the module's
// data-parallel group. Both apply the same element-wise update, so they
// give the same weights.
#pragma once

#include <memory>
#include <vector>

#include <ATen/ATen.h>

#include "dist/comm.h"
#include "hetero/recipe.h"
#include "model/params.h"

namespace hetero {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // One step on gradients already reduced over the data-parallel group.
  virtual void step(double lr, double weight_decay) = 0;
};

// Every rank keeps the full state.
class AdamW : public Optimizer {
 public:
  AdamW(std::vector<Param>& params, const TrainConfig& cfg);
  void step(double lr, double weight_decay) override;

 private:
  std::vector<Param>& params_;
  TrainConfig cfg_;
  std::vector<at::Tensor> exp_avg_, exp_avg_sq_;
  int steps_ = 0;
};

// Distributed optimizer: the module's parameters are seen as one flat fp32
// vector; dp rank r keeps AdamW state for, and updates, only its 1/dp
// share, and the updated shares are all-gathered back into every replica.
class ShardedAdamW : public Optimizer {
 public:
  ShardedAdamW(std::vector<Param>& params, const TrainConfig& cfg, const Group& dp);
  void step(double lr, double weight_decay) override;

 private:
  std::vector<Param>& params_;
  TrainConfig cfg_;
  const Group& dp_;
  int64_t total_ = 0, shard_ = 0, begin_ = 0;  // flat size, padded share, this rank's offset
  at::Tensor decay_mask_;                      // bool [shard_]: weight decay applies
  at::Tensor exp_avg_, exp_avg_sq_;            // [shard_]
  int steps_ = 0;
};

std::unique_ptr<Optimizer> make_optimizer(std::vector<Param>& params, const TrainConfig& cfg, const Group& dp,
                                          bool distributed);

}  // namespace hetero
