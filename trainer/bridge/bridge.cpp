#include "bridge/bridge.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "bridge/tags.h"
#include "dist/device_copy.h"

namespace hetero {
namespace {

namespace T = bridge_tags;

// {image count, row count, fingerprint of the per-image row counts}: what
// the receiver checks before it posts the payload's receive.
std::vector<int64_t> metadata_of(const std::vector<int>& rows_per_image) {
  int64_t total = 0;
  uint64_t fingerprint = 1469598103934665603ull;  // FNV-1a over the counts
  for (int r : rows_per_image) {
    total += r;
    fingerprint = (fingerprint ^ static_cast<uint64_t>(r)) * 1099511628211ull;
  }
  return {static_cast<int64_t>(rows_per_image.size()), total, static_cast<int64_t>(fingerprint >> 1)};
}

constexpr int64_t kMetadataLength = 3;

std::string describe(const int64_t* m) {
  return std::to_string(m[0]) + " images with " + std::to_string(m[1]) + " rows (fingerprint " +
         std::to_string(m[2]) + ")";
}

}  // namespace

std::vector<int> BridgeRoutes::lane_receivers(int lane) const {
  const RankGrid g = topo.llm.grid();
  std::vector<int> out;
  for (int cp = 0; cp < topo.llm.dims.cp; ++cp) out.push_back(g.rank_at({0, cp, lane, 0}));
  return out;
}

std::int64_t BridgeEndpoint::send_embeddings(int dst, int mb, const std::vector<int>& rows_per_image,
                                             const at::Tensor& rows) {
  const std::vector<int64_t> meta = metadata_of(rows_per_image);
  if (rows.size(0) != meta[1])
    throw std::logic_error("bridge: encoder produced " + std::to_string(rows.size(0)) + " rows for images totalling " +
                           std::to_string(meta[1]));
  p2p_.send(copy_to_device(at::tensor(meta, at::kLong), rows.device()), dst, T::tag(mb, T::kMetadata));
  std::int64_t bytes = kMetadataLength * static_cast<std::int64_t>(sizeof(int64_t));
  if (meta[1] > 0) {
    const at::Tensor payload = rows.contiguous();
    p2p_.send(payload, dst, T::tag(mb, T::kEmbeddings));
    bytes += payload.numel() * static_cast<std::int64_t>(payload.element_size());
  }
  return bytes;
}

at::Tensor BridgeEndpoint::recv_embeddings(int src, int mb, const std::vector<int>& expected, std::int64_t hidden,
                                           const at::TensorOptions& opts) {
  at::Tensor meta = at::empty({kMetadataLength}, opts.dtype(at::kLong));
  p2p_.recv(meta, src, T::tag(mb, T::kMetadata));
  meta = meta.cpu();  // the one host read per payload: its size must be known before its receive
  const std::vector<int64_t> want = metadata_of(expected);
  const int64_t* got = meta.data_ptr<int64_t>();
  if (!std::equal(want.begin(), want.end(), got))
    throw std::runtime_error("bridge: microbatch " + std::to_string(mb) + " from encoder rank " + std::to_string(src) +
                             " carries " + describe(got) + " but this lane's data expects " + describe(want.data()) +
                             "; encoder and LLM disagree on the batch");
  at::Tensor rows = at::empty({want[1], hidden}, opts);
  if (want[1] > 0) p2p_.recv(rows, src, T::tag(mb, T::kEmbeddings));
  return rows;
}

void BridgeEndpoint::send_gradients(int dst, int mb, const at::Tensor& grad) {
  if (grad.size(0) > 0) p2p_.send(grad.contiguous(), dst, T::tag(mb, T::kGradients));
}

at::Tensor BridgeEndpoint::recv_gradients(int src, int mb, std::int64_t rows, std::int64_t hidden,
                                          const at::TensorOptions& opts) {
  at::Tensor g = at::empty({rows, hidden}, opts);
  if (rows > 0) p2p_.recv(g, src, T::tag(mb, T::kGradients));
  return g;
}

}  // namespace hetero
