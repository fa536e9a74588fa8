#include "model/vocab_parallel.h"

#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/custom_function.h>

#include "model/params.h"
#include "model/tp_ops.h"
#ifdef HETERO_WITH_CUDA
#include "kernels/cross_entropy_launch.h"
#endif

namespace hetero {
namespace {
// The token range [start, end) of this rank's shard, and whether each token falls in it.
std::pair<at::Tensor, at::Tensor> local_ids(const at::Tensor& ids, int64_t shard_rows, const Group& tp) {
  const int64_t start = shard_rows * tp.rank;
  const at::Tensor mine = ids.ge(start).logical_and(ids.lt(start + shard_rows));
  const at::Tensor local = (ids - start).clamp(0, shard_rows - 1);
  return {local, mine};
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// One chunk's summed, masked loss (a device scalar: no host sync) from its
// logits [n, V/tp] in the compute dtype; where d_logits is defined (a slice
// of [n, V/tp]) its d(loss)/d(logits) is written there. labels [n] global
// ids, m [n] fp32 mask. The reference path: every step an ATen op on an fp32
// copy of the logits.
at::Tensor chunk_loss_aten(const at::Tensor& logits_in, const at::Tensor& labels, const at::Tensor& m,
                           const Group& tp, const at::Tensor& d_logits) {
  at::Tensor logits = logits_in.to(at::kFloat);
  at::Tensor max = std::get<0>(logits.max(-1));
  all_reduce_max(tp, max);
  const auto [local, mine] = local_ids(labels, logits.size(-1), tp);
  const at::Tensor target = logits.gather(-1, local.unsqueeze(-1)).squeeze(-1) * mine;
  at::Tensor& e = logits.sub_(max.unsqueeze(-1)).exp_();  // in place: the logits are not needed again
  at::Tensor sums = at::stack({e.sum(-1), target});
  all_reduce_sum(tp, sums);  // {sum of exp, target logit}
  const at::Tensor loss = ((at::log(sums[0]) + max - sums[1]) * m).sum();
  if (d_logits.defined()) {
    // d/dlogits of sum_t m_t CE_t: m_t softmax_t - m_t one-hot(label_t).
    e.mul_((m / sums[0]).unsqueeze(-1));
    e.scatter_add_(-1, local.unsqueeze(-1), -(mine.to(at::kFloat) * m).unsqueeze(-1));
    d_logits.copy_(e);
  }
  return loss;
}

#ifdef HETERO_WITH_CUDA
// What the fused kernels take: bf16/fp16 logits on CUDA, contiguous int64 labels and fp32 mask beside them.
bool kernels_take(const at::Tensor& logits, const at::Tensor& labels, const at::Tensor& m) {
  return logits.is_cuda() && (logits.scalar_type() == at::kBFloat16 || logits.scalar_type() == at::kHalf) &&
         labels.scalar_type() == at::kLong && labels.device() == logits.device() && labels.is_contiguous() &&
         m.device() == logits.device() && m.is_contiguous();
}

// chunk_loss_aten's result from two kernels (kernels/cross_entropy.cu) that
// read the bf16/fp16 logits directly: no fp32 [n, V/tp] copy, and two passes
// over the logits instead of about eight elementwise ops. Only [n]-sized
// ATen ops between them, and the same two tp all-reduces in the same order.
at::Tensor chunk_loss_kernels(const at::Tensor& logits, const at::Tensor& labels, const at::Tensor& m,
                              const Group& tp, const at::Tensor& d_logits) {
  const int64_t start = logits.size(-1) * tp.rank;
  auto [local_max, sums] = cross_entropy_row_stats_cuda(logits, labels, start);  // sums: {sum of exp, target}
  // The kernel's sums are relative to this shard's max: rescale them to the global one before summing over tp.
  at::Tensor max = local_max.clone();
  all_reduce_max(tp, max);
  sums[0].mul_(at::exp(local_max - max));
  all_reduce_sum(tp, sums);
  const at::Tensor loss = ((at::log(sums[0]) + max - sums[1]) * m).sum();
  if (d_logits.defined()) cross_entropy_logit_grad_cuda(logits, d_logits, labels, start, max, sums[0], m);
  return loss;
}
#endif

// The fused kernels where they apply, else the ATen reference path.
at::Tensor chunk_loss(const at::Tensor& logits, const at::Tensor& labels, const at::Tensor& m, const Group& tp,
                      const at::Tensor& d_logits, bool fused_kernels) {
#ifdef HETERO_WITH_CUDA
  if (fused_kernels && kernels_take(logits, labels, m)) return chunk_loss_kernels(logits, labels, m, tp, d_logits);
#endif
  (void)fused_kernels;  // the CPU build has the reference path only
  return chunk_loss_aten(logits, labels, m, tp, d_logits);
}

// Forward of the chunked output layer + cross-entropy, and where asked
// d(loss)/d(hidden), d(loss)/d(weight) for an incoming gradient of 1. The
// chunks' d(loss)/d(logits) are kept in the compute dtype ([T, V/tp]; in
// bf16 1 GB for the 20L recipe's 4096 tokens x 131072) so that each gradient
// is one matmul over every token: the weight's gradient is written once,
// instead of a [V/tp, H] partial per chunk added into an fp32 sum (2 ms a
// chunk on an H200 at that vocabulary).
struct ChunkedCrossEntropy : torch::autograd::Function<ChunkedCrossEntropy> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& hidden, const at::Tensor& weight,
                            const at::Tensor& labels, const at::Tensor& mask, const at::Tensor& weight_in_compute,
                            const Group* tp, int64_t chunk, bool grad_hidden, bool grad_weight, bool fused_kernels,
                            bool weight_grad_in_gemm) {
    const bool grads = grad_hidden || grad_weight;
    const at::Tensor& w = weight_in_compute;
    const int64_t tokens = hidden.size(0), rows = weight.size(0);
    at::Tensor loss = at::zeros({}, hidden.options().dtype(at::kFloat));
    const at::Tensor d_logits_all = grads ? at::empty({tokens, rows}, hidden.options()) : at::Tensor();
    for (int64_t begin = 0; begin < tokens; begin += chunk) {
      const int64_t n = std::min(chunk, tokens - begin);
      const at::Tensor logits = at::matmul(hidden.narrow(0, begin, n), w.t());  // [n, V/tp]
      const at::Tensor m = mask.narrow(0, begin, n).to(at::kFloat);
      const at::Tensor d_logits = grads ? d_logits_all.narrow(0, begin, n) : at::Tensor();
      loss = loss + chunk_loss(logits, labels.narrow(0, begin, n), m, *tp, d_logits, fused_kernels);
    }
    if (grad_hidden) ctx->saved_data["d_hidden"] = at::matmul(d_logits_all, w);
    if (grad_weight && weight_grad_in_gemm) {
      // The weight's gradient is made in backward, scaled there and added to
      // weight.grad in fp32 by its GEMM: no [V/tp, H] gradient in the
      // compute dtype, no fp32 copy of it to scale and then add (three
      // passes over 2 GB per microbatch at the 20L vocabulary).
      ctx->saved_data["d_logits"] = d_logits_all;
      ctx->save_for_backward({hidden, weight});
    } else if (grad_weight) {
      ctx->saved_data["d_weight"] = at::matmul(d_logits_all.t(), hidden);  // in the compute dtype
    }
    return loss;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const at::Tensor g = grads[0];
    auto saved = [&](const char* key) {
      const auto it = ctx->saved_data.find(key);
      return it == ctx->saved_data.end() ? at::Tensor() : it->second.toTensor();
    };
    const at::Tensor d_hidden = saved("d_hidden"), d_weight = saved("d_weight"), d_logits = saved("d_logits");
    if (d_logits.defined()) {
      const variable_list s = ctx->get_saved_variables();  // hidden, weight
      // The scale on hidden [T, H], not on d_logits [T, V/tp]: 1/32 of the
      // elements at the 20L widths (bf16 times the fp32 scalar, rounded once).
      accumulate_weight_grad(s[1], d_logits, s[0] * g);
    }
    return {d_hidden.defined() ? d_hidden * g.to(d_hidden.scalar_type()) : at::Tensor(),
            d_weight.defined() ? d_weight.to(at::kFloat) * g : at::Tensor(),  // undefined: in weight.grad already
            at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor(), at::Tensor()};
  }
};

// weight.index_select(0, ids) * keep, whose backward adds keep * d(rows)
// into weight.grad with one index_add_ and returns no gradient for weight:
// autograd's way makes a zero-filled [V/tp, H] gradient for the few rows
// used and then adds all of it to weight.grad (two passes over 2 GB per
// microbatch at the 20L vocabulary).
struct EmbeddingRowsGradIntoWeight : torch::autograd::Function<EmbeddingRowsGradIntoWeight> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& weight, const at::Tensor& ids,
                            const at::Tensor& keep) {
    ctx->save_for_backward({weight});
    ctx->saved_data["ids"] = ids;
    ctx->saved_data["keep"] = keep;
    return weight.index_select(0, ids) * keep;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const at::Tensor weight = ctx->get_saved_variables()[0];
    const at::Tensor rows = grads[0] * ctx->saved_data["keep"].toTensor();
    at::Tensor& grad = weight.mutable_grad();
    if (!grad.defined()) grad = at::zeros_like(weight);
    grad.index_add_(0, ctx->saved_data["ids"].toTensor(), rows);
    return {at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor vocab_parallel_cross_entropy_sum(const at::Tensor& hidden, const at::Tensor& weight,
                                            const at::Tensor& labels, const at::Tensor& mask, const Group& tp,
                                            int64_t chunk_tokens, const at::Tensor& weight_in_compute,
                                            bool fused_kernels, bool weight_grad_in_gemm) {
  if (chunk_tokens <= 0) chunk_tokens = std::max<int64_t>(1, (int64_t{1} << 27) / weight.size(0));
  const bool grad_mode = at::GradMode::is_enabled();
  const at::Tensor w = weight_in_compute.defined() ? weight_in_compute.detach()
                                                  : weight.detach().to(hidden.scalar_type());
  return ChunkedCrossEntropy::apply(hidden, weight, labels.reshape({-1}), mask.reshape({-1}), w, &tp, chunk_tokens,
                                    grad_mode && hidden.requires_grad(), grad_mode && weight.requires_grad(), fused_kernels,
                                    weight_grad_in_gemm);
}

at::Tensor vocab_parallel_embedding(const at::Tensor& tokens, const at::Tensor& weight, const Group& tp,
                                    bool grad_into_weight) {
  const auto [local, mine] = local_ids(tokens, weight.size(0), tp);
  const at::Tensor ids = local.reshape({-1}), keep = mine.reshape({-1, 1}).to(weight.scalar_type());
  const at::Tensor rows = grad_into_weight && at::GradMode::is_enabled() && weight.requires_grad()
                              ? EmbeddingRowsGradIntoWeight::apply(weight, ids, keep)
                              : weight.index_select(0, ids) * keep;
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
