// Point-to-point tensor traffic over the job's world group (the bridge and
// the pipeline). Sends are asynchronous and kept alive until flush(), so a
// schedule can post sends ahead of the receives its peers are waiting on.
#pragma once

#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "dist/comm.h"

namespace hetero {

class PointToPoint {
 public:
  explicit PointToPoint(const Group& world) : world_(world) {}
  void send(at::Tensor t, int dst, int tag);
  // Blocks until `t` (already sized) holds what `src` sent with `tag`.
  void recv(at::Tensor& t, int src, int tag);
  // Waits for every send started so far.
  void flush();

 private:
  const Group& world_;
  std::vector<std::pair<c10::intrusive_ptr<c10d::Work>, at::Tensor>> pending_;
};

}  // namespace hetero
