#include "dist/p2p.h"

namespace hetero {

void PointToPoint::send(at::Tensor t, int dst, int tag) {
  std::vector<at::Tensor> v{t};
  pending_.emplace_back(world_.comm->send(v, dst, tag), t);
}

void PointToPoint::recv(at::Tensor& t, int src, int tag) {
  std::vector<at::Tensor> v{t};
  world_.comm->recv(v, src, tag)->wait();
}

void PointToPoint::flush() {
  for (auto& p : pending_) p.first->wait();
  pending_.clear();
}

}  // namespace hetero
