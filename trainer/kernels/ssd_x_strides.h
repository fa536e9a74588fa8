// Where the SSD scan's fused ops (ssd_state_input, ssd_output) find row
// (batch, chunk, step in the chunk, head) of x, and write its gradient. x
// comes either as [b, l, h, p] (a chunk is q time steps) or chunked as
// [b, c, q, h, p]: the second lets the caller keep x in the layout of the
// intra-chunk matmul, [b, c, h, q, p], and hand the ops a view of it, so
// that x is copied once rather than twice.
#pragma once

#include <stdint.h>

#include "kernels/host_device.h"

namespace hetero {

struct SsdXStrides {
  int64_t batch = 0, chunk = 0, step = 0, head = 0;  // the channel stride is 1
  HETERO_HOST_DEVICE int64_t at(int64_t b, int64_t ci, int64_t pos, int64_t head_index) const {
    return b * batch + ci * chunk + pos * step + head_index * head;
  }
};

}  // namespace hetero
