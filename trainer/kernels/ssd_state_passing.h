// Shape of the SSD scan's state passing across chunks
// (model/ssd_state_passing.h), shared by the CUDA kernels
// (ssd_state_passing.cu) and the CPU loop. own and entering are
// [batch, chunks, heads, width] contiguous (width = head_dim * state),
// chunk_log [batch, chunks, heads]:
//   entering[0] = 0,  entering[k + 1] = exp(chunk_log[k]) * entering[k] + own[k]
// accumulated in fp32 and rounded once to own's dtype.
#pragma once

#include <stdint.h>

#include "kernels/host_device.h"

namespace hetero {

struct SsdStatePassingShape {
  int64_t batch, chunks, heads, width;
  HETERO_HOST_DEVICE int64_t lanes() const { return batch * heads * width; }  // independent recurrences
  // Element k of the recurrence of lane (b, h, w), in own/entering.
  HETERO_HOST_DEVICE int64_t at(int64_t b, int64_t k, int64_t h, int64_t w) const {
    return ((b * chunks + k) * heads + h) * width + w;
  }
  // chunk_log's element for chunk k of (b, h).
  HETERO_HOST_DEVICE int64_t log_at(int64_t b, int64_t k, int64_t h) const { return (b * chunks + k) * heads + h; }
};

}  // namespace hetero
