// The x operand of the SSD scan's fused ops (model/ssd_state_input.h,
// model/ssd_output.h): [b, l, h, p] or chunked [b, c, q, h, p] (l = c * q);
// the ops make its channels contiguous where they are not. Its checks, its strides as the kernels read them
// (kernels/ssd_x_strides.h) and its gradient's buffer live here once.
#pragma once

#include <cstdint>
#include <string>

#include <ATen/ATen.h>

#include "kernels/ssd_x_strides.h"

namespace hetero {

// Throws (c10::Error, naming `op`) unless x is 4-D or 5-D.
void check_ssd_x(const at::Tensor& x, const std::string& op);

// Steps: l of [b, l, h, p], c * q of [b, c, q, h, p].
int64_t ssd_x_length(const at::Tensor& x);
int64_t ssd_x_heads(const at::Tensor& x);  // h, the next-to-last dim

// A [b, l, h, p] x fits any chunking; a chunked x only its own c and q.
bool ssd_x_fits_chunks(const at::Tensor& x, int64_t chunks, int64_t chunk);

// x's strides (its channels contiguous); a chunk of a [b, l, h, p] x is `chunk` steps.
SsdXStrides ssd_x_strides(const at::Tensor& x, int64_t chunk);

// Uninitialised, x's sizes, in x's layout where x is dense (so that the
// gradient adds to the other gradients of x's storage without a permuted
// pass), else contiguous.
at::Tensor ssd_x_gradient_buffer(const at::Tensor& x, const at::TensorOptions& options);

}  // namespace hetero
