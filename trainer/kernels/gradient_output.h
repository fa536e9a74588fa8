// Where a backward kernel writes an input's gradient (CUDA launch code).
#pragma once

#include <ATen/ATen.h>

namespace hetero {

// `into` where given (e.g. a slice of a split's gradient buffer), checked to
// be like `input` (sizes, dtype, device) with its last dim contiguous, its
// other strides free; else a new contiguous tensor like `input`.
inline at::Tensor gradient_output(const at::Tensor& into, const at::Tensor& input, const char* op) {
  if (!into.defined()) return at::empty(input.sizes(), input.options());
  TORCH_CHECK(into.sizes() == input.sizes() && into.scalar_type() == input.scalar_type() &&
                  into.device() == input.device() && into.stride(-1) == 1,
              op, ": the gradient's output must be like the input ", input.sizes(), " (", input.scalar_type(),
              ", last dim contiguous), got ", into.sizes(), " (", into.scalar_type(), ") of strides ", into.strides());
  return into;
}

}  // namespace hetero
