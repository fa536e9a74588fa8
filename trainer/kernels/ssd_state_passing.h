// Shape of the SSD scan's state passing across chunks
// (model/ssd_state_passing.h), shared by the CUDA kernels
// (ssd_state_passing.cu) and the CPU loop. own and entering are
// [batch, chunks, groups, rows, heads_per_group, width] contiguous: each
// chunk holds every head's state, a group's heads side by side within a row
// (the grouped scan's [b, c, g, n, hg * p], which its matmuls read and write
// without a transpose; [b, c, h, 1, 1, w] is the plain per-head layout).
// chunk_log is [batch, chunks, groups * heads_per_group]. For each state
// element of each head:
//   entering[0] = 0,  entering[k + 1] = exp(chunk_log[k, head]) * entering[k] + own[k]
// accumulated in fp32 and rounded once to own's dtype.
#pragma once

#include <stdint.h>

#include "kernels/host_device.h"

namespace hetero {

struct SsdStatePassingShape {
  int64_t batch, chunks, groups, rows, heads_per_group, width;

  HETERO_HOST_DEVICE int64_t heads() const { return groups * heads_per_group; }
  HETERO_HOST_DEVICE int64_t head_width() const { return rows * width; }  // one head's state, per chunk
  HETERO_HOST_DEVICE int64_t chunk_width() const { return heads() * head_width(); }
  HETERO_HOST_DEVICE int64_t lanes() const { return batch * chunk_width(); }  // independent recurrences
  // Element o (of chunk_width) of chunk k, in own/entering.
  HETERO_HOST_DEVICE int64_t at(int64_t b, int64_t k, int64_t o) const { return (b * chunks + k) * chunk_width() + o; }
  // Where element e (of head_width) of a head's state lies within a chunk.
  HETERO_HOST_DEVICE int64_t of_head(int64_t head, int64_t e) const {
    const int64_t g = head / heads_per_group, i = head % heads_per_group;
    return ((g * rows + e / width) * heads_per_group + i) * width + e % width;
  }
  // The head whose state element o (of chunk_width) is.
  HETERO_HOST_DEVICE int64_t head_of(int64_t o) const {
    return o / (rows * heads_per_group * width) * heads_per_group + o / width % heads_per_group;
  }
  // chunk_log's element for chunk k of (b, head).
  HETERO_HOST_DEVICE int64_t log_at(int64_t b, int64_t k, int64_t head) const {
    return (b * chunks + k) * heads() + head;
  }
};

}  // namespace hetero
