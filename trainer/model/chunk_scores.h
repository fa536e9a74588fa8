// The SSD scan's intra-chunk scores as one fused, differentiable op (design
// §6; the scan: ssd_scan.h). For each batch b, chunk c, group g, head i of
// the group and steps t, s of the chunk:
//   scores[b,c,g,i,t,s] = CB[b,c,g,t,s] * exp(a_cum[b,c,g,i,t] - a_cum[b,c,g,i,s]) * dt[b,c,g,i,s]
// for s <= t, and 0 for s > t. On CUDA tensors it runs hand-written kernels
// (kernels/chunk_scores.cu) that read the inputs once and write the scores
// once, instead of materialising the fp32 decay and products; elsewhere a
// CPU loop over the same per-element math (kernels/chunk_scores.h), which
// tests compare with the ATen expression.
#pragma once

#include <ATen/ATen.h>

namespace hetero {

// CB [b, c, g, q, q] fp32 (C B^T per chunk and group), a_cum and dt
// [b, c, g, hg, q] fp32 (cumulative log-decay within the chunk, step
// sizes). Returns scores [b, c, g, hg, q, q] in out_dtype (fp32 or bf16),
// computed in fp32. Differentiable in CB, a_cum and dt (gradients fp32).
// On CUDA: q <= 256 and hg <= 64.
at::Tensor chunk_scores(const at::Tensor& cb, const at::Tensor& a_cum, const at::Tensor& dt, at::ScalarType out_dtype);

}  // namespace hetero
