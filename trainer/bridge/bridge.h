// The bridge (design §5, §7): image embeddings travel from an encoder
// replica's first rank to one rank of each lane's first pipeline stage (tp
// rank 0), which broadcasts them over the lane's tp group; their gradients
// come back from that same rank. Payloads vary in size (dynamic
// resolution): one small metadata message (image count, row count and a
// fingerprint of the per-image row counts) precedes each payload, and the
// receiver, which knows from its data what rows to expect, checks it.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "dist/p2p.h"
#include "hetero/topology.h"

namespace hetero {

// Where bridge traffic goes: pure topology, shared by both sides.
struct BridgeRoutes {
  const JobTopology& topo;
  // The encoder rank that sends for replica `e` (its first tp rank).
  int encoder_sender(int e) const { return topo.encoder.grid().rank_at({0, 0, e, 0}); }
  // The LLM ranks of `lane`'s first stage that receive its embeddings: tp
  // rank 0 of each context-parallel slice; each shares them with its tp group.
  std::vector<int> lane_receivers(int lane) const;
  // The LLM rank of `lane` that sends gradients back (its first rank).
  int lane_grad_sender(int lane) const { return topo.llm.grid().rank_at({0, 0, lane, 0}); }
};

class BridgeEndpoint {
 public:
  explicit BridgeEndpoint(PointToPoint& p2p) : p2p_(p2p) {}

  // Encoder side: sends `rows` [sum(rows_per_image), hidden] to `dst`;
  // returns the bytes sent (metadata and payload).
  std::int64_t send_embeddings(int dst, int microbatch, const std::vector<int>& rows_per_image,
                               const at::Tensor& rows);
  // LLM side: receives from `src`, checking the metadata against the rows
  // this lane's data expects; throws naming both on a mismatch.
  at::Tensor recv_embeddings(int src, int microbatch, const std::vector<int>& expected_rows_per_image,
                             std::int64_t hidden, const at::TensorOptions& opts);
  // Gradients of those rows, LLM -> encoder.
  void send_gradients(int dst, int microbatch, const at::Tensor& grad);
  at::Tensor recv_gradients(int src, int microbatch, std::int64_t rows, std::int64_t hidden,
                            const at::TensorOptions& opts);

 private:
  PointToPoint& p2p_;
};

}  // namespace hetero
