#include "model/all_to_all.h"

#include <numeric>
#include <stdexcept>

#include <torch/csrc/autograd/custom_function.h>

namespace hetero {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

int64_t total(const std::vector<int64_t>& v) { return std::accumulate(v.begin(), v.end(), int64_t{0}); }

at::Tensor exchange(const at::Tensor& x, std::vector<int64_t> send_counts, std::vector<int64_t> recv_counts,
                    const Group& g) {
  at::Tensor input = x.contiguous();
  std::vector<int64_t> out_shape = input.sizes().vec();
  out_shape[0] = total(recv_counts);
  at::Tensor output = at::empty(out_shape, input.options());
  all_to_all(g, output, input, std::move(recv_counts), std::move(send_counts));
  return output;
}

// The group outlives every graph built during a step (as in tp_ops.cpp).
struct AllToAllRows : torch::autograd::Function<AllToAllRows> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, std::vector<int64_t> send,
                            std::vector<int64_t> recv, const Group* g) {
    ctx->saved_data["group"] = reinterpret_cast<int64_t>(g);
    ctx->saved_data["send"] = send;
    ctx->saved_data["recv"] = recv;
    return exchange(x, send, recv, *g);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const Group* g = reinterpret_cast<const Group*>(ctx->saved_data["group"].toInt());
    // Gradients travel back: what was received is now sent.
    at::Tensor dx = exchange(grads[0], ctx->saved_data["recv"].toIntVector(),
                             ctx->saved_data["send"].toIntVector(), *g);
    return {dx, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor all_to_all_rows(const at::Tensor& x, const std::vector<int64_t>& send_counts,
                           const std::vector<int64_t>& recv_counts, const Group& g) {
  if (static_cast<int>(send_counts.size()) != g.size() || static_cast<int>(recv_counts.size()) != g.size())
    throw std::invalid_argument("all_to_all_rows: one count per group rank expected");
  if (total(send_counts) != x.size(0))
    throw std::invalid_argument("all_to_all_rows: send counts sum to " + std::to_string(total(send_counts)) +
                                " but x has " + std::to_string(x.size(0)) + " rows");
  if (g.size() == 1) return x;
  return AllToAllRows::apply(x, send_counts, recv_counts, &g);
}

std::vector<std::vector<int64_t>> all_gather_counts(const std::vector<int64_t>& mine, const Group& g) {
  if (g.size() == 1) return {mine};
  const auto n = static_cast<int64_t>(mine.size());
  std::vector<std::vector<int64_t>> all;
  for (const auto& t : all_gather(g, at::tensor(mine, at::kLong).to(g.device))) {
    const at::Tensor c = t.cpu();
    all.emplace_back(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + n);
  }
  return all;
}

at::Tensor all_gather_rows(const at::Tensor& x, const std::vector<int64_t>& rows_per_rank, const Group& g) {
  if (g.size() == 1) return x;
  std::vector<int64_t> send(g.size(), x.size(0));
  std::vector<int64_t> repeats(x.dim(), 1);
  repeats[0] = g.size();
  return all_to_all_rows(x.repeat(repeats), send, rows_per_rank, g);
}

at::Tensor reduce_scatter_rows(const at::Tensor& x, const std::vector<int64_t>& rows_per_rank, const Group& g) {
  if (g.size() == 1) return x;
  const int64_t mine = rows_per_rank[g.rank];
  std::vector<int64_t> recv(g.size(), mine);
  const at::Tensor parts = all_to_all_rows(x, rows_per_rank, recv, g);  // [size * mine, ...]
  std::vector<int64_t> shape = x.sizes().vec();
  shape[0] = mine;
  shape.insert(shape.begin(), g.size());
  return parts.view(shape).sum(0);
}

}  // namespace hetero
