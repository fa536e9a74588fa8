#include "model/vocab_parallel.h"

#include <ATen/core/grad_mode.h>

#include "model/tp_ops.h"

namespace hetero {
namespace {
// The token range [start, end) of this rank's shard, and whether each token falls in it.
std::pair<at::Tensor, at::Tensor> local_ids(const at::Tensor& ids, int64_t shard_rows, const Group& tp) {
  const int64_t start = shard_rows * tp.rank;
  const at::Tensor mine = ids.ge(start).logical_and(ids.lt(start + shard_rows));
  const at::Tensor local = (ids - start).clamp(0, shard_rows - 1);
  return {local, mine};
}
}  // namespace

at::Tensor vocab_parallel_embedding(const at::Tensor& tokens, const at::Tensor& weight, const Group& tp) {
  const auto [local, mine] = local_ids(tokens, weight.size(0), tp);
  const at::Tensor rows = weight.index_select(0, local.reshape({-1})) * mine.reshape({-1, 1}).to(weight.scalar_type());
  return leave_tp_region(rows, tp);
}

at::Tensor vocab_parallel_cross_entropy(const at::Tensor& logits_shard, const at::Tensor& labels, const Group& tp) {
  const at::Tensor logits = logits_shard.to(at::kFloat);
  // The global max is a constant shift for stability: it cancels in the math.
  at::Tensor max;
  {
    at::NoGradGuard no_grad;
    max = std::get<0>(logits.max(-1));
    all_reduce_max(tp, max);
  }
  const at::Tensor sum_exp = leave_tp_region(at::exp(logits - max.unsqueeze(-1)).sum(-1), tp);
  const auto [local, mine] = local_ids(labels, logits.size(-1), tp);
  const at::Tensor target = leave_tp_region(logits.gather(-1, local.unsqueeze(-1)).squeeze(-1) * mine, tp);
  return at::log(sum_exp) + max - target;
}

}  // namespace hetero
