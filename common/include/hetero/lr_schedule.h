// Learning-rate and weight-decay schedules with the semantics of
// Megatron-LM's OptimizerParamScheduler: linear warm-up from init_lr, then
// constant, linear, cosine, inverse-square-root or WSD (warmup-stable-decay,
// whose final decay is linear, cosine, exponential or minus_sqrt), never
// below min_lr; weight decay moves from start_wd to end_wd (constant,
// linear or cosine). Steps are counted in one unit, iterations or samples,
// chosen by the caller.
#pragma once

#include <cstdint>
#include <string>

#include "hetero/errors.h"

namespace hetero {

struct LrScheduleConfig {
  double max_lr = 0, min_lr = 0, init_lr = 0;
  std::int64_t warmup_steps = 0;
  std::int64_t decay_steps = 0;  // where decay ends (counted from step 0, warm-up included)
  std::string decay_style = "constant";  // constant | linear | cosine | inverse-square-root | WSD
  std::string wsd_decay_style = "linear";  // linear | cosine | exponential | minus_sqrt
  std::int64_t wsd_decay_steps = 0;        // the final annealing phase of WSD
  double start_wd = 0, end_wd = 0;
  std::int64_t wd_incr_steps = 0;
  std::string wd_incr_style = "constant";  // constant | linear | cosine
};

class LrSchedule {
 public:
  // Validates the config; throws ConfigError naming each bad value.
  explicit LrSchedule(LrScheduleConfig cfg);
  // The learning rate after `step` steps.
  double lr(std::int64_t step) const;
  double weight_decay(std::int64_t step) const;
  const LrScheduleConfig& config() const { return cfg_; }

 private:
  LrScheduleConfig cfg_;
};

}  // namespace hetero
