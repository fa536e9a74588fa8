// Per-element math of the SSD chunk scores (model/chunk_scores.h), shared by
// the CUDA kernels (chunk_scores.cu) and the CPU loop (model/chunk_scores.cpp)
// so that CPU tests check the kernels' arithmetic. Within one chunk, group
// and head, for steps t (row) and s (column):
//   score[t,s] = CB[t,s] * exp(a_cum[t] - a_cum[s]) * dt[s]   for s <= t, else 0
#pragma once

#include <math.h>

#include "kernels/host_device.h"

namespace hetero {

HETERO_HOST_DEVICE float chunk_score(float cb, float a_t, float a_s, float dt_s, int t, int s) {
  // Skipping s > t (rather than exp(-inf)) also keeps exp from overflowing there.
  return s <= t ? cb * expf(a_t - a_s) * dt_s : 0.0f;
}

// One element's share of the gradients, given d_score = dL/dscore[t,s] (s <= t):
//   d_cb:  into dCB[t,s] (summed over the group's heads)
//   g:     d_score * score; into d_a_cum[t] with +, into d_a_cum[s] with -
//   d_dt:  into d_dt[s]
struct ChunkScoreGrad {
  float d_cb, g, d_dt;
};

HETERO_HOST_DEVICE ChunkScoreGrad chunk_score_grad(float d_score, float cb, float a_t, float a_s, float dt_s) {
  const float e = expf(a_t - a_s);
  ChunkScoreGrad r;
  r.d_cb = d_score * e * dt_s;
  r.d_dt = d_score * cb * e;
  r.g = r.d_dt * dt_s;
  return r;
}

}  // namespace hetero
