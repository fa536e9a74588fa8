// Packed sequences (THD): samples concatenated along the token dimension,
// delimited by cu_seqlens = {0, end of sample 0, end of sample 1, ..., T}.
// Layers that must not mix samples (causal conv, state-space scan,
// attention) pad them into a [samples, longest, ...] batch, padded at the
// end: causal operators never let a padded position reach a real one.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

namespace hetero {

// Checks cu_seqlens against the token count; throws with the numbers.
void check_cu_seqlens(const std::vector<int64_t>& cu_seqlens, int64_t tokens);

// x [T, ...] -> [samples, longest, ...], zeros after each sample's end.
// Differentiable.
at::Tensor pad_packed(const at::Tensor& x, const std::vector<int64_t>& cu_seqlens);

// The inverse: y [samples, longest, ...] -> [T, ...], padding dropped.
at::Tensor unpad_packed(const at::Tensor& y, const std::vector<int64_t>& cu_seqlens);

}  // namespace hetero
