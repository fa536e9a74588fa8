// The MoE layer's token dispatch and combine (model/moe.cpp) as fused,
// differentiable ops. A slot is a (token t, choice k) pair, numbered
// t * K + k; `order` [n * K] int64 lists the slots sorted by expert and
// `inverse` is its inverse permutation (inverse[order[j]] == j), computed
// once by the caller for both ops.
//   dispatch: rows[j] = x[order[j] / K]                        [n * K, hidden]
//   combine:  y[t] = sum_k weights[t, k] * sorted[inverse[t * K + k]]   fp32
// The ATen expressions they replace gather with index_select and scatter
// its gradient back with index_add_ (atomics; the dispatch's in bf16), and
// the combine makes an fp32 copy of every slot. On CUDA, for fp32 or bf16
// rows and fp32 weights, they run hand-written kernels
// (kernels/moe_routing.cu), one pass each way: the dispatch's gradient is a
// gather-sum over each token's slots in fp32, rounded once to x's dtype; the
// combine's is a scaled gather and, per slot, one reduction over the hidden
// channels; deterministic. Elsewhere they compute those ATen expressions
// (the reference; the CPU trainer's results are theirs).
#pragma once

#include <cstdint>

#include <ATen/ATen.h>

namespace hetero {

// x [n, hidden]; order, inverse [n * k] int64 on x's device; k >= 1.
// Returns x's rows in expert order, [n * k, hidden] in x's dtype.
// Differentiable in x.
at::Tensor moe_dispatch(const at::Tensor& x, const at::Tensor& order, const at::Tensor& inverse, int64_t k);

// sorted [n * k, hidden], the slots' rows in expert order (row j is slot
// order[j]); inverse [n * k] int64; weights [n, k] fp32. Returns y [n,
// hidden] fp32, the sum over each token's choices 0..k-1 in that order.
// Differentiable in sorted and weights.
at::Tensor moe_combine(const at::Tensor& sorted, const at::Tensor& inverse, const at::Tensor& weights);

// The fused autograd Functions on any device: on CUDA what moe_dispatch and
// moe_combine run, on the CPU a loop over the kernels' per-row math
// (kernels/moe_routing.h), which tests compare with the ATen expressions.
// x and sorted fp32 or bf16.
at::Tensor moe_dispatch_fused(const at::Tensor& x, const at::Tensor& order, const at::Tensor& inverse, int64_t k);
at::Tensor moe_combine_fused(const at::Tensor& sorted, const at::Tensor& inverse, const at::Tensor& weights);

}  // namespace hetero
