#include "bridge/bridge.h"

#include <numeric>
#include <sstream>
#include <stdexcept>

namespace hetero {
namespace {
enum Kind { kHeader = 0, kSizes = 1, kPayload = 2, kGrad = 3 };
int tag_of(int microbatch, Kind kind) { return microbatch * 4 + kind; }

std::string list(const std::vector<int64_t>& v) {
  std::ostringstream os;
  for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << v[i];
  return os.str();
}
}  // namespace

std::vector<int> BridgeRoutes::lane_receivers(int lane) const {
  const RankGrid g = topo.llm.grid();
  std::vector<int> out;
  for (int cp = 0; cp < topo.llm.dims.cp; ++cp)
    for (int tp = 0; tp < topo.llm.dims.tp; ++tp) out.push_back(g.rank_at({tp, cp, lane, 0}));
  return out;
}

void BridgeEndpoint::send_embeddings(int dst, int mb, const std::vector<int>& rows_per_image, const at::Tensor& rows) {
  const int64_t total = std::accumulate(rows_per_image.begin(), rows_per_image.end(), int64_t{0});
  if (rows.size(0) != total)
    throw std::logic_error("bridge: encoder produced " + std::to_string(rows.size(0)) + " rows for images totalling " +
                           std::to_string(total));
  auto idx = at::TensorOptions().dtype(at::kLong).device(rows.device());
  p2p_.send(at::tensor(std::vector<int64_t>{static_cast<int64_t>(rows_per_image.size()), total}, at::kLong).to(idx.device()),
       dst, tag_of(mb, kHeader));
  if (rows_per_image.empty()) return;
  p2p_.send(at::tensor(std::vector<int64_t>(rows_per_image.begin(), rows_per_image.end()), at::kLong).to(idx.device()), dst,
       tag_of(mb, kSizes));
  if (total > 0) p2p_.send(rows.contiguous(), dst, tag_of(mb, kPayload));
}

at::Tensor BridgeEndpoint::recv_embeddings(int src, int mb, const std::vector<int>& expected, int64_t hidden,
                                           const at::TensorOptions& opts) {
  auto idx = opts.dtype(at::kLong);
  at::Tensor header = at::empty({2}, idx);
  p2p_.recv(header, src, tag_of(mb, kHeader));
  header = header.cpu();
  const int64_t n_images = header[0].item<int64_t>(), total = header[1].item<int64_t>();
  std::vector<int64_t> want(expected.begin(), expected.end());
  std::vector<int64_t> got;
  if (n_images > 0) {
    at::Tensor sizes = at::empty({n_images}, idx);
    p2p_.recv(sizes, src, tag_of(mb, kSizes));
    sizes = sizes.cpu();
    got.assign(sizes.data_ptr<int64_t>(), sizes.data_ptr<int64_t>() + n_images);
  }
  if (got != want)
    throw std::runtime_error("bridge: microbatch " + std::to_string(mb) + " from encoder rank " + std::to_string(src) +
                             " carries images with rows [" + list(got) + "] but this lane's data expects [" +
                             list(want) + "]; encoder and LLM disagree on the batch");
  at::Tensor rows = at::empty({total, hidden}, opts);
  if (total > 0) p2p_.recv(rows, src, tag_of(mb, kPayload));
  return rows;
}

void BridgeEndpoint::send_gradients(int dst, int mb, const at::Tensor& grad) {
  if (grad.size(0) > 0) p2p_.send(grad.contiguous(), dst, tag_of(mb, kGrad));
}

at::Tensor BridgeEndpoint::recv_gradients(int src, int mb, int64_t rows, int64_t hidden, const at::TensorOptions& opts) {
  at::Tensor g = at::empty({rows, hidden}, opts);
  if (rows > 0) p2p_.recv(g, src, tag_of(mb, kGrad));
  return g;
}

}  // namespace hetero
