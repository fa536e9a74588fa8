// Per-row math of the fused cross-entropy kernels (cross_entropy.cu), shared
// with CPU tests (host_device.h), in fp32. A row's softmax statistics are
// gathered in one pass as an online softmax: each slice of the row keeps its
// own max and the sum of exp(x - that max), and two slices combine by
// rescaling both sums to the larger max. The gradient of one token's
// masked cross-entropy, m CE, at logit x:
//   m exp(x - max) / sum - m [x is the label's logit]
// with max and sum those of the whole vocabulary (all tp shards).
#pragma once

#include <math.h>

#include "kernels/host_device.h"

namespace hetero {

struct SoftmaxStats {
  float max;  // the largest value seen (-inf before any)
  float sum;  // sum of exp(x - max) over the values seen
};

// exp(from - to) for from <= to, exactly 1 where they are equal (so that a
// -inf max, before any value, rescales a zero sum to zero, not NaN).
HETERO_HOST_DEVICE float softmax_rescale(float from, float to) { return from == to ? 1.0f : expf(from - to); }

HETERO_HOST_DEVICE SoftmaxStats softmax_stats_combine(SoftmaxStats a, SoftmaxStats b) {
  const float m = fmaxf(a.max, b.max);
  SoftmaxStats c;
  c.max = m;
  c.sum = a.sum * softmax_rescale(a.max, m) + b.sum * softmax_rescale(b.max, m);
  return c;
}

// values[0, count) added to s: one rescale to the new max, then the exps.
HETERO_HOST_DEVICE SoftmaxStats softmax_stats_add(SoftmaxStats s, const float* values, int count) {
  float m = s.max;
  for (int i = 0; i < count; ++i) m = fmaxf(m, values[i]);
  float sum = s.sum * softmax_rescale(s.max, m);
  for (int i = 0; i < count; ++i) sum += expf(values[i] - m);
  s.max = m;
  s.sum = sum;
  return s;
}

// d(m CE)/d(logit x): scale = m / sum (the row's), label_m = m at the
// label's column of the rank that holds it, else 0. The ATen path's
// arithmetic: exp(x - max) * (m / sum), minus m at the label.
HETERO_HOST_DEVICE float cross_entropy_logit_grad(float x, float max, float scale, float label_m) {
  return expf(x - max) * scale - label_m;
}

}  // namespace hetero
