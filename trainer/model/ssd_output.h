// The output step of the grouped SSD scan (ssd_scan.cpp) as one fused,
// differentiable op: from the intra-chunk product (scores @ x), the
// inter-chunk product before its decay (C @ entering states), the
// cumulative log-decays and the skip input,
//   y[b,t,head,:] = y_intra + y_inter * exp(a_cum) + x * D[head]
// in fp32, written straight into [b, l, h, p]. The ATen ops it replaces
// make fp32 copies of both products, a permuted copy of their sum and a
// third pass for the skip term, and as many again in the backward. On CUDA
// tensors it runs hand-written kernels (kernels/ssd_output.cu); elsewhere a
// CPU loop over the same per-element math (kernels/ssd_output.h), which
// tests compare with the ATen expression.
#pragma once

#include <ATen/ATen.h>

namespace hetero {

// y_intra [b, c, g, hg, q, p] and y_inter [b, c, g, q, hg * p] contiguous,
// in the matmul dtype (fp32 or bf16); a_cum [b, c, g, hg, q] fp32; x [b, l,
// h = g * hg, p] or chunked [b, c, q, h, p] (model/ssd_x.h) in the matmul
// dtype, l <= c * q; D [h] fp32 or undefined (no skip term). Returns y [b,
// l, h, p] fp32 (l = c * q for a chunked x). Differentiable in y_intra,
// y_inter, a_cum, x and D; x's gradient takes x's layout where x is dense.
at::Tensor ssd_chunk_output(const at::Tensor& y_intra, const at::Tensor& y_inter, const at::Tensor& a_cum,
                            const at::Tensor& x, const at::Tensor& D);

}  // namespace hetero
