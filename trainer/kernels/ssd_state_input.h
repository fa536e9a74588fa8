// Per-element math and indexing of the SSD scan's chunk-state input
// (model/ssd_state_input.h), shared by the CUDA kernels (ssd_state_input.cu)
// and the CPU loop. For batch b, chunk ci, group gi, position s in the
// chunk and head i of the group (step t = ci * q + s, head gi * hg + i):
//   weighted[b,ci,gi,s,i,:] = x[b,t,head,:] * to_end[b,ci,gi,i,s]   (0 for t >= length)
// rounded once from fp32 to the matmul dtype, as the ATen ops in
// ssd_scan.cpp compute it.
#pragma once

#include <stdint.h>

#include "kernels/host_device.h"
#include "kernels/ssd_x_strides.h"

namespace hetero {

struct SsdStateInputShape {
  int64_t batch, length, chunks, groups, heads_per_group, chunk, head_dim;
  SsdXStrides x, dx;  // x's rows, and its gradient's (kernels/ssd_x_strides.h)
  HETERO_HOST_DEVICE int64_t rows() const { return batch * chunks * groups * chunk * heads_per_group; }
};

struct SsdStateInputRow {
  int64_t to_end, x, out;
  int64_t dx;    // the row in x's gradient
  bool padding;  // t >= length: no x there
};

// Row (b, ci, gi, s, i) in the order of weighted's [b, c, g, q, hg] leading dims.
HETERO_HOST_DEVICE SsdStateInputRow ssd_state_input_row(const SsdStateInputShape& s, int64_t row) {
  const int64_t i = row % s.heads_per_group, pos = (row / s.heads_per_group) % s.chunk;
  const int64_t chunk_group = row / (s.heads_per_group * s.chunk);  // (b * c + ci) * g + gi
  const int64_t gi = chunk_group % s.groups, ci = (chunk_group / s.groups) % s.chunks;
  const int64_t b = chunk_group / (s.groups * s.chunks), t = ci * s.chunk + pos;
  SsdStateInputRow r;
  r.to_end = (chunk_group * s.heads_per_group + i) * s.chunk + pos;  // [b,c,g,hg,q]
  r.padding = t >= s.length;
  const int64_t head = gi * s.heads_per_group + i;
  r.x = r.padding ? 0 : s.x.at(b, ci, pos, head);
  r.dx = r.padding ? 0 : s.dx.at(b, ci, pos, head);
  r.out = row * s.head_dim;
  return r;
}

}  // namespace hetero
