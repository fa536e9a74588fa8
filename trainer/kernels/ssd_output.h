// Per-element math and indexing of the SSD scan's output step
// (model/ssd_output.h), shared by the CUDA kernels (ssd_output.cu) and the
// CPU loop. For batch b, step t, head (group gi, head i within it) and
// channel k, with chunk ci = t / q and position s = t % q in it:
//   y[b,t,head,k] = (y_intra[b,ci,gi,i,s,k] + y_inter[b,ci,gi,s,i,k] * exp(a_cum[b,ci,gi,i,s]))
//                   + x[b,t,head,k] * D[head]
// in fp32, the order of the ATen ops in ssd_scan.cpp.
#pragma once

#include <math.h>
#include <stdint.h>

#include "kernels/host_device.h"
#include "kernels/ssd_x_strides.h"

namespace hetero {

struct SsdOutputShape {
  int64_t batch, length, chunks, groups, heads_per_group, chunk, head_dim;
  SsdXStrides x, dx;  // x's rows, and its gradient's (kernels/ssd_x_strides.h)
  HETERO_HOST_DEVICE int64_t heads() const { return groups * heads_per_group; }
  HETERO_HOST_DEVICE int64_t rows() const { return batch * length * heads(); }
};

// Where row (b, t, head) of head_dim channels starts in each operand.
struct SsdOutputRow {
  int64_t y_intra, y_inter, a_cum, x, dx, out;
};

HETERO_HOST_DEVICE SsdOutputRow ssd_output_row(const SsdOutputShape& s, int64_t row) {
  const int64_t h = s.heads(), head = row % h, t = (row / h) % s.length, b = row / (h * s.length);
  const int64_t ci = t / s.chunk, pos = t % s.chunk, gi = head / s.heads_per_group, i = head % s.heads_per_group;
  const int64_t chunk_group = (b * s.chunks + ci) * s.groups + gi;
  SsdOutputRow r;
  r.a_cum = (chunk_group * s.heads_per_group + i) * s.chunk + pos;                      // [b,c,g,hg,q]
  r.y_intra = r.a_cum * s.head_dim;                                                    // [b,c,g,hg,q,p]
  r.y_inter = ((chunk_group * s.chunk + pos) * s.heads_per_group + i) * s.head_dim;   // [b,c,g,q,hg,p]
  r.x = s.x.at(b, ci, pos, head);
  r.dx = s.dx.at(b, ci, pos, head);
  r.out = row * s.head_dim;                                                            // [b,l,h,p]
  return r;
}

HETERO_HOST_DEVICE float ssd_output_value(float y_intra, float y_inter, float decay, float x, float d) {
  return (y_intra + y_inter * decay) + x * d;
}

}  // namespace hetero
