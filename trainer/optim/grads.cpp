#include "optim/grads.h"

#include <ATen/core/grad_mode.h>

namespace hetero {

void zero_grads(std::vector<Param>& params) {
  for (auto& p : params) {
    if (p.value.grad().defined())
      p.value.mutable_grad().zero_();
    else
      p.value.mutable_grad() = at::zeros_like(p.value);
  }
}

void reduce_grads_over_dp(std::vector<Param>& params, const Group& dp) {
  if (dp.size() == 1 || params.empty()) return;
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> flat;
  for (auto& p : params) flat.push_back(p.value.grad().reshape({-1}));
  at::Tensor buffer = at::cat(flat);
  all_reduce_sum(dp, buffer);
  int64_t offset = 0;
  for (auto& p : params) {
    at::Tensor g = p.value.mutable_grad();
    g.copy_(buffer.narrow(0, offset, g.numel()).view_as(g));
    offset += g.numel();
  }
}

GradStats local_grad_stats(const std::vector<Param>& params, const Group& tp, const Group& dp) {
  GradStats s;
  if (dp.rank != 0) return s;
  for (const auto& p : params) {
    if (p.tp_shard_dim < 0 && tp.rank != 0) continue;
    const at::Tensor g = p.value.grad().to(at::kDouble);
    s.sum_sq += g.pow(2).sum().item<double>();
    s.zeros += g.eq(0).sum().item<int64_t>();
  }
  return s;
}

void scale_grads(std::vector<Param>& params, double factor) {
  at::NoGradGuard no_grad;
  for (auto& p : params) p.value.mutable_grad().mul_(factor);
}

}  // namespace hetero
