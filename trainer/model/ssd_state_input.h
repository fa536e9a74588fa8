// The input of the grouped SSD scan's chunk states (ssd_scan.cpp) as one
// fused, differentiable op: each step's x weighted by its decay to the end
// of its chunk,
//   weighted[b, ci, gi, s, i, :] = x[b, ci * q + s, gi * hg + i, :] * to_end[b, ci, gi, i, s]
// in the matmul dtype, laid out [b, c, g, q, hg * p] for the state GEMM
// (zero past the sequence's end). The ATen ops it replaces pad x, make the
// product in fp32 and cast it, and in the backward make an fp32 product and
// a reduction over the channels. On CUDA tensors it runs hand-written
// kernels (kernels/ssd_state_input.cu); elsewhere a CPU loop over the same
// per-element indexing, which tests compare with the ATen expression.
#pragma once

#include <ATen/ATen.h>

namespace hetero {

// x [b, l, h, p] or chunked [b, c, q, h, p] (fp32 or bf16; model/ssd_x.h),
// to_end [b, c, g, hg, q] fp32 with g * hg = h and l <= c * q. Returns [b,
// c, g, q, hg * p] in x's dtype. Differentiable in x and to_end; x's
// gradient takes x's layout where x is dense.
at::Tensor ssd_state_input(const at::Tensor& x, const at::Tensor& to_end);

}  // namespace hetero
