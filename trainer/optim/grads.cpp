#include "optim/grads.h"

#include <ATen/core/grad_mode.h>
#ifdef HETERO_WITH_CUDA
#include "kernels/grad_stats_launch.h"
#endif

namespace hetero {

void zero_grads(std::vector<Param>& params) {
  for (auto& p : params) {
    if (p.value.grad().defined())
      p.value.mutable_grad().zero_();
    else
      p.value.mutable_grad() = at::zeros_like(p.value);
  }
}

namespace {

// Sums the gradients of `params` over `g` in one flat buffer.
void sum_grads(const std::vector<Param*>& params, const Group& g) {
  if (g.size() == 1 || params.empty()) return;
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> flat;
  for (const Param* p : params) flat.push_back(p->value.grad().reshape({-1}));
  at::Tensor buffer = at::cat(flat);
  all_reduce_sum(g, buffer);
  int64_t offset = 0;
  for (Param* p : params) {
    at::Tensor grad = p->value.mutable_grad();
    grad.copy_(buffer.narrow(0, offset, grad.numel()).view_as(grad));
    offset += grad.numel();
  }
}

}  // namespace

void reduce_grads_over_dp(std::vector<Param>& params, const Group& dp) {
  // Dense parameters over dp; experts over their expert-data-parallel group
  // (the same group for every expert of a module).
  std::vector<Param*> dense, experts;
  for (auto& p : params) (p.expert_dp ? experts : dense).push_back(&p);
  sum_grads(dense, dp);
  if (!experts.empty()) sum_grads(experts, *experts.front()->expert_dp);
}

namespace {

// fp64 [] sum of g's squares. On CUDA one fp32 dot product, which reads the
// gradient once (an fp64 copy, its square and sum make three passes over
// twice its size); elsewhere in fp64 throughout, the reference. (CUDA
// builds count contiguous fp32 CUDA gradients by grad_stats_cuda instead.)
at::Tensor sum_of_squares(const at::Tensor& g) {
  if (g.is_cuda()) {
    const at::Tensor flat = g.reshape({-1});
    return at::dot(flat, flat).to(at::kDouble);
  }
  return g.to(at::kDouble).pow(2).sum();
}

// CUDA builds: g is one that grad_stats_cuda counts along with `batch`
// (contiguous fp32 on the batch's device): one kernel over them all reads
// each element once for both terms, with one launch for every gradient.
bool joins_kernel(const at::Tensor& g, const std::vector<at::Tensor>& batch) {
#ifdef HETERO_WITH_CUDA
  return g.is_cuda() && g.scalar_type() == at::kFloat && g.is_contiguous() &&
         (batch.empty() || g.device() == batch.front().device());
#else
  (void)g, (void)batch;
  return false;
#endif
}

}  // namespace

at::Tensor local_grad_stats(const std::vector<Param>& params, const Group& tp, const Group& dp, at::Device device) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> terms;  // per counted parameter: {sum of squares, zero count}
  std::vector<at::Tensor> batch;  // gradients that the kernel counts (joins_kernel)
  for (const auto& p : params) {
    // An expert element lives on one rank of each expert-data-parallel
    // replica; other parameters on one dp replica, tp-replicated ones on
    // every tp rank.
    if (p.expert_dp ? p.expert_dp->rank != 0 : (dp.rank != 0 || (p.tp_shard_dim < 0 && tp.rank != 0))) continue;
    const at::Tensor& g = p.value.grad();
    if (joins_kernel(g, batch)) {
      batch.push_back(g);
      continue;
    }
    terms.push_back(at::stack({sum_of_squares(g), g.eq(0).sum().to(at::kDouble)}));
  }
#ifdef HETERO_WITH_CUDA
  if (!batch.empty()) terms.push_back(grad_stats_cuda(batch));
#endif
  if (terms.empty()) return at::zeros({2}, at::TensorOptions().dtype(at::kDouble).device(device));
  return at::stack(terms).sum(0).to(device);
}

}  // namespace hetero
