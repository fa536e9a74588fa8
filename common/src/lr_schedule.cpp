#include "hetero/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace hetero {
namespace {
bool one_of(const std::string& v, std::initializer_list<const char*> options) {
  for (const char* o : options)
    if (v == o) return true;
  return false;
}
}  // namespace

LrSchedule::LrSchedule(LrScheduleConfig cfg) : cfg_(std::move(cfg)) {
  ProblemList p;
  const auto& c = cfg_;
  if (!one_of(c.decay_style, {"constant", "linear", "cosine", "inverse-square-root", "WSD"}))
    p.add("train.lr_decay_style '" + c.decay_style +
          "' is not one of constant, linear, cosine, inverse-square-root, WSD");
  if (!one_of(c.wsd_decay_style, {"linear", "cosine", "exponential", "minus_sqrt"}))
    p.add("train.lr_wsd_decay_style '" + c.wsd_decay_style + "' is not one of linear, cosine, exponential, minus_sqrt");
  if (!one_of(c.wd_incr_style, {"constant", "linear", "cosine"}))
    p.add("train.weight_decay_incr_style '" + c.wd_incr_style + "' is not one of constant, linear, cosine");
  if (c.max_lr < c.min_lr)
    p.add("train.lr=" + std::to_string(c.max_lr) + " is below train.min_lr=" + std::to_string(c.min_lr));
  if (c.warmup_steps < 0 || c.decay_steps < 0 || c.wsd_decay_steps < 0 || c.wd_incr_steps < 0)
    p.add("schedule lengths must not be negative");
  const bool decays = c.decay_style != "constant";
  if (decays && c.decay_steps <= c.warmup_steps)
    p.add("the LR decay ends at step " + std::to_string(c.decay_steps) + ", not after the warm-up's " +
          std::to_string(c.warmup_steps) + " steps; lengthen the decay or shorten the warm-up");
  if (c.decay_style == "WSD" && (c.wsd_decay_steps < 1 || c.wsd_decay_steps > c.decay_steps - c.warmup_steps))
    p.add("WSD needs 1 <= lr_wsd_decay (" + std::to_string(c.wsd_decay_steps) + ") <= decay - warm-up (" +
          std::to_string(c.decay_steps - c.warmup_steps) + ")");
  if (c.wd_incr_style == "constant" && c.start_wd != c.end_wd)
    p.add("weight decay style constant needs start_weight_decay == end_weight_decay (" + std::to_string(c.start_wd) +
          " vs " + std::to_string(c.end_wd) + ")");
  if (c.wd_incr_style != "constant" && c.wd_incr_steps < 1)
    p.add("weight decay style " + c.wd_incr_style + " needs a positive increment length");
  p.throw_if_any();
}

double LrSchedule::lr(std::int64_t step) const {
  const auto& c = cfg_;
  if (c.warmup_steps > 0 && step <= c.warmup_steps)
    return c.init_lr + (c.max_lr - c.init_lr) * static_cast<double>(step) / static_cast<double>(c.warmup_steps);
  if (c.decay_style == "constant") return c.max_lr;
  if (step > c.decay_steps) return c.min_lr;
  if (c.decay_style == "inverse-square-root") {
    const double warm = static_cast<double>(std::max<std::int64_t>(c.warmup_steps, 1));
    const double now = static_cast<double>(std::max<std::int64_t>(step, 1));
    return std::max(c.min_lr, c.max_lr * std::sqrt(warm) / std::sqrt(now));
  }
  const double ratio = static_cast<double>(step - c.warmup_steps) / static_cast<double>(c.decay_steps - c.warmup_steps);
  double coeff = 1.0;
  if (c.decay_style == "linear") {
    coeff = 1.0 - ratio;
  } else if (c.decay_style == "cosine") {
    coeff = 0.5 * (std::cos(M_PI * ratio) + 1.0);
  } else {  // WSD: stable until the last wsd_decay_steps, then anneal
    const std::int64_t anneal_start = c.decay_steps - c.wsd_decay_steps;
    if (step > anneal_start) {
      const double r = static_cast<double>(step - anneal_start) / static_cast<double>(c.wsd_decay_steps);
      if (c.wsd_decay_style == "linear") coeff = 1.0 - r;
      else if (c.wsd_decay_style == "cosine") coeff = 0.5 * (std::cos(M_PI * r) + 1.0);
      else if (c.wsd_decay_style == "exponential") coeff = 2.0 * std::pow(0.5, r) - 1.0;
      else coeff = 1.0 - std::sqrt(r);  // minus_sqrt
    }
  }
  return c.min_lr + coeff * (c.max_lr - c.min_lr);
}

double LrSchedule::weight_decay(std::int64_t step) const {
  const auto& c = cfg_;
  if (c.wd_incr_style == "constant" || step > c.wd_incr_steps) return c.end_wd;
  const double ratio = static_cast<double>(step) / static_cast<double>(c.wd_incr_steps);
  const double coeff = c.wd_incr_style == "linear" ? ratio : 0.5 * (std::cos(M_PI * (1.0 - ratio)) + 1.0);
  return c.start_wd + coeff * (c.end_wd - c.start_wd);
}

}  // namespace hetero
