// AdamW with decoupled weight decay (none on norms), one per module, and
// its distributed form whose state is sharded over the module's
// data-parallel group. Both apply the same element-wise update, so they
// give the same weights.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "dist/comm.h"
#include "hetero/recipe.h"
#include "model/params.h"

namespace hetero {

// Part of one moment tensor as this rank holds it, for checkpoints:
// elements [flat_begin, flat_begin + values.numel()) of the flattened
// moment of `param`'s shard on this rank.
struct OptimizerStatePiece {
  const Param* param = nullptr;
  std::string moment;  // "exp_avg" | "exp_avg_sq"
  at::Tensor values;   // 1-D view of the live state (not a copy)
  int64_t flat_begin = 0;
  // Every data-parallel replica (edp for experts) holds this same piece:
  // one of them is enough in a checkpoint.
  bool replicated_over_dp = true;
};

// What a loader hands the optimizer: `moment` of `param` in the shape of
// the param's shard on this rank, whatever layout saved it.
using MomentReader = std::function<at::Tensor(const std::string& moment, const Param& param)>;

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // One step on gradients already reduced over the data-parallel group,
  // taken as multiplied by grad_scale (gradient clipping; 1 for none),
  // which the gradients themselves are not.
  virtual void step(double lr, double weight_decay, double grad_scale) = 0;
  // Steps taken (bias correction depends on it).
  virtual int steps() const = 0;
  virtual std::vector<OptimizerStatePiece> state_pieces() = 0;
  // Replaces the state by what `read` returns and the step count by `steps`.
  virtual void load_state(const MomentReader& read, int steps) = 0;
};

// Every rank keeps the full state.
class AdamW : public Optimizer {
 public:
  AdamW(std::vector<Param>& params, const TrainConfig& cfg);
  void step(double lr, double weight_decay, double grad_scale) override;
  int steps() const override { return steps_; }
  std::vector<OptimizerStatePiece> state_pieces() override;
  void load_state(const MomentReader& read, int steps) override;

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
  void step(double lr, double weight_decay, double grad_scale) override;
  int steps() const override { return steps_; }
  std::vector<OptimizerStatePiece> state_pieces() override;
  void load_state(const MomentReader& read, int steps) override;

 private:
  std::vector<Param>& params_;
  TrainConfig cfg_;
  const Group& dp_;
  int64_t total_ = 0, shard_ = 0, begin_ = 0;  // flat size, padded share, this rank's offset
  // Calls f(param, moment offset in the param, offset in this share, count)
  // for every param whose flat range meets this rank's share.
  void for_each_overlap(const std::function<void(const Param&, int64_t, int64_t, int64_t)>& f) const;
  at::Tensor decay_mask_;                      // bool [shard_]: weight decay applies
  at::Tensor exp_avg_, exp_avg_sq_;            // [shard_]
  int steps_ = 0;
};

std::unique_ptr<Optimizer> make_optimizer(std::vector<Param>& params, const TrainConfig& cfg, const Group& dp,
                                          bool distributed);

}  // namespace hetero
