#include "hetero/train_schedule.h"

namespace hetero {
namespace {

// A length given as iterations or samples (at most one is non-zero), in the
// schedule's unit; `fallback` when neither is given.
std::int64_t in_schedule_unit(const TrainConfig& t, std::int64_t iters, std::int64_t samples, std::int64_t fallback) {
  const std::int64_t gbs = t.global_batch_size;
  const bool in_samples = t.train_samples > 0;
  if (samples > 0) return in_samples ? samples : (samples + gbs - 1) / gbs;
  if (iters > 0) return in_samples ? iters * gbs : iters;
  return fallback;
}

}  // namespace

LrSchedule make_lr_schedule(const TrainConfig& t) {
  const std::int64_t run = t.train_samples > 0 ? t.train_samples : t.train_iters;
  LrScheduleConfig c;
  c.max_lr = t.lr;
  c.min_lr = t.min_lr;
  c.init_lr = t.lr_warmup_init;
  c.warmup_steps = in_schedule_unit(t, t.lr_warmup_iters, t.lr_warmup_samples, 0);
  c.decay_steps = in_schedule_unit(t, t.lr_decay_iters, t.lr_decay_samples, run);
  c.decay_style = t.lr_decay_style;
  c.wsd_decay_style = t.lr_wsd_decay_style;
  c.wsd_decay_steps = in_schedule_unit(t, t.lr_wsd_decay_iters, t.lr_wsd_decay_samples, 0);
  c.start_wd = t.start_weight_decay >= 0 ? t.start_weight_decay : t.weight_decay;
  c.end_wd = t.end_weight_decay >= 0 ? t.end_weight_decay : t.weight_decay;
  c.wd_incr_style = t.weight_decay_incr_style;
  c.wd_incr_steps = run;
  return LrSchedule(c);
}

std::int64_t schedule_position(const TrainConfig& t, std::int64_t completed_steps) {
  return t.train_samples > 0 ? completed_steps * t.global_batch_size : completed_steps;
}

}  // namespace hetero
