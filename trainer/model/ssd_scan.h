// Mamba-2's state-space duality (SSD) scan, in chunks (design §6).
//
// Per head h with state S [P, N]:
//   S_t = exp(dt_t * A_h) * S_{t-1} + dt_t * x_t B_t^T
//   y_t = S_t C_t
// Within a chunk of Q steps the outputs are one masked matmul (the "dual"
// attention-like form); chunk boundary states are carried by a short
// sequential recurrence over chunks. Computed in fp32 whatever the input
// dtype, as the state needs it.
#pragma once

#include <ATen/ATen.h>

namespace hetero {

// x [b, l, h, p], dt [b, l, h] (positive, after softplus), A [h] (negative),
// B and C [b, l, h, n] (groups already expanded to heads). Returns y
// [b, l, h, p] in fp32. Differentiable.
at::Tensor ssd_chunked_scan(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A, const at::Tensor& B,
                            const at::Tensor& C, int64_t chunk);

// The same scan with B and C per group of heads (B, C [b, l, g, n]; head i
// reads group i / (h / g), as the expansion above), for the mixer:
//   - B and C are never expanded to heads: C B^T is one product per group,
//     and the chunk states and the output from them are one matmul per group
//     with the group's heads side by side;
//   - the state passing across chunks is one masked matmul over chunks
//     (entering state of chunk k = sum_{j<k} exp(sum_{j<i<k} log-decay_i) own_j),
//     no host-side loop;
//   - matmul operands take x's dtype (bf16 on the GPU; products accumulate
//     in fp32 inside the GEMMs), decays, cumulative sums and the carried
//     states are fp32.
//   - given D [h] fp32, the skip term x * D is added to y (on CUDA in the
//     fused output step, model/ssd_output.h).
// x may come chunked, [b, c, q = chunk, h, p] with l = c * q (model/ssd_x.h):
// stored as [b, c, h, q, p] it is the intra-chunk matmul's operand as it is,
// and nothing copies it. dt, B and C may be shorter than c * q (zeros past
// their end).
// Returns y [b, l, h, p] in fp32. Differentiable. Equal to ssd_chunked_scan
// on expanded B, C (fp32: to rounding), plus x * D.
at::Tensor ssd_chunked_scan_grouped(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A,
                                    const at::Tensor& B, const at::Tensor& C, int64_t chunk,
                                    const at::Tensor& D = {});

// x_groups [b, l, g, hg * p] (any strides, channels contiguous) as the
// grouped scan's chunked x: [b, c, q, h, p], zero-padded to whole chunks of
// `chunk` steps, stored as [b, c, h, q, p]. One copy, differentiable.
at::Tensor ssd_chunked_x(const at::Tensor& x_groups, int64_t head_dim, int64_t chunk);

// The recurrence above, one step at a time: the reference for tests.
at::Tensor ssd_recurrence(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A, const at::Tensor& B,
                          const at::Tensor& C);

}  // namespace hetero
