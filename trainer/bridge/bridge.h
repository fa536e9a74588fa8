// The bridge (design §5, §7): image embeddings travel from an encoder
// replica's first rank to every first-stage rank of the lanes it feeds; their
// gradients come back from each lane's first rank. Payloads vary in size, so
// a header (image count, row count) and the per-image row counts travel
// first, and the receiver checks them against what its data expects.
#pragma once

#include <vector>

#include <ATen/ATen.h>

#include "dist/comm.h"
#include "dist/p2p.h"
#include "hetero/topology.h"

namespace hetero {

// Where bridge traffic goes: pure topology, shared by both sides.
struct BridgeRoutes {
  const JobTopology& topo;
  // The encoder rank that sends for replica `e` (its first tp rank).
  int encoder_sender(int e) const { return topo.encoder.grid().rank_at({0, 0, e, 0}); }
  // LLM ranks of `lane`'s first pipeline stage: all receive the embeddings.
  std::vector<int> lane_receivers(int lane) const;
  // The LLM rank of `lane` that sends gradients back (its first rank).
  int lane_grad_sender(int lane) const { return topo.llm.grid().rank_at({0, 0, lane, 0}); }
};

class BridgeEndpoint {
 public:
  BridgeEndpoint(PointToPoint& p2p, const BridgeRoutes& routes) : p2p_(p2p), routes_(routes) {}

  // Encoder side: send `rows` [sum(rows_per_image), hidden] to `dst`.
  void send_embeddings(int dst, int microbatch, const std::vector<int>& rows_per_image, const at::Tensor& rows);
  // LLM side: receive from `src`, checking the image and row counts.
  at::Tensor recv_embeddings(int src, int microbatch, const std::vector<int>& expected_rows_per_image,
                             int64_t hidden, const at::TensorOptions& opts);
  // Gradients of those rows, LLM -> encoder.
  void send_gradients(int dst, int microbatch, const at::Tensor& grad);
  at::Tensor recv_gradients(int src, int microbatch, int64_t rows, int64_t hidden, const at::TensorOptions& opts);

  // Waits for every send started so far.
  void flush() { p2p_.flush(); }

 private:
  PointToPoint& p2p_;
  const BridgeRoutes& routes_;
};

}  // namespace hetero
