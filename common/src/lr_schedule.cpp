#include "hetero/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace hetero {

double LrSchedule::at(int iter) const {
  if (warmup_iters > 0 && iter <= warmup_iters) return max_lr * iter / warmup_iters;
  if (style == "constant") return max_lr;
  const int span = std::max(1, decay_iters - warmup_iters);
  const double progress = std::clamp(double(iter - warmup_iters) / span, 0.0, 1.0);
  if (style == "linear") return min_lr + (max_lr - min_lr) * (1.0 - progress);
  if (style == "cosine") return min_lr + (max_lr - min_lr) * 0.5 * (1.0 + std::cos(M_PI * progress));
  throw std::invalid_argument("unknown lr_decay_style '" + style + "' (constant, linear, cosine)");
}

}  // namespace hetero
