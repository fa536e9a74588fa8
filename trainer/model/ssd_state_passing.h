// The grouped SSD scan's state passing across chunks (ssd_scan.cpp) as one
// fused, differentiable op: the state each chunk starts from,
//   entering[:, 0] = 0,  entering[:, k + 1] = exp(chunk_log[:, k]) * entering[:, k] + own[:, k],
// from each chunk's own contribution to the state at its end. The ATen
// ops it replaces on CUDA (a masked [chunks, chunks] decay matrix times the
// stacked states, in fp32, around two permutes of the states) move the
// states in and out of a chunk-last layout and run the matmul as fp32 SIMT
// GEMMs. On CUDA tensors it runs hand-written kernels
// (kernels/ssd_state_passing.cu); elsewhere a CPU loop of the same
// recurrence, which tests compare with the ATen expression.
#pragma once

#include <ATen/ATen.h>

namespace hetero {

// own [b, c, g, m, hg, w] (fp32 or bf16): each chunk's state of every head,
// head (g, i) holding the [m, w] elements own[:, :, g, :, i, :] (the grouped
// scan's [b, c, g, n, hg * p]; [b, c, h, 1, 1, w] is one head after
// another). chunk_log [b, c, g, hg] fp32: chunk k's log-decay over the whole
// chunk, per head. Returns entering like own, accumulated in fp32.
// Differentiable in own and chunk_log.
at::Tensor ssd_state_passing(const at::Tensor& own, const at::Tensor& chunk_log);

}  // namespace hetero
