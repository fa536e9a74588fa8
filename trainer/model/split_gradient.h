// A projection's output split along its last dim into parts that separate
// ops consume, with the parts' gradients laid out once: the backward of a
// part's consumer may write its input's gradient straight into that part's
// slice of one buffer (GradientInto), which the split's backward then
// returns as the projection's gradient. Without it, autograd's split
// backward concatenates the parts' own gradients: one more pass over the
// whole projection output per layer (the Mamba in_proj's [T, 2 hp + 2 gn +
// h] in every backward). Parts whose consumers wrote elsewhere are copied
// into their slice, undefined ones zeroed: the result is always the
// concatenation.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/core/ivalue.h>
#include <torch/csrc/autograd/custom_function.h>

namespace hetero {

// The shared buffer of one split's gradient, allocated (uninitialised) at
// the first slice a backward asks for, then held until the split's
// backward hands it on.
class SplitGradientBuffer : public torch::CustomClassHolder {
 public:
  SplitGradientBuffer(const at::Tensor& like, std::vector<int64_t> sizes);
  // Part `part`'s gradient: a view of the buffer with the part's sizes and
  // the whole buffer's strides.
  at::Tensor slice(int64_t part);
  // Whether t has part `part`'s sizes and the buffer's dtype and device:
  // what a consumer that writes its input's gradient there must check.
  bool matches_part(const at::Tensor& t, int64_t part) const;
  // Whether g is exactly slice(part): the same memory, sizes and strides.
  bool is_slice(const at::Tensor& g, int64_t part) const;
  // The buffer (allocated if no part asked), for the split's backward.
  at::Tensor whole();
  // Drops the buffer (a later slice allocates a new one).
  void release();
  const std::vector<int64_t>& sizes() const { return sizes_; }
  const std::vector<int64_t>& shape() const { return shape_; }

 private:
  at::Tensor part_of(const at::Tensor& buffer, int64_t part) const;
  std::vector<int64_t> shape_, sizes_;
  at::TensorOptions options_;
  at::Tensor buffer_;
};

// Where a consumer's backward writes its input's gradient: part `part` of
// `buffer`, or (buffer undefined) a tensor of its own.
struct GradientInto {
  c10::intrusive_ptr<SplitGradientBuffer> buffer;
  int64_t part = 0;
  bool defined() const { return buffer.defined(); }
  // The part's slice, or undefined (no buffer): what the CUDA launch code takes.
  at::Tensor slice() const { return defined() ? buffer->slice(part) : at::Tensor(); }
  // Undefined, or t matches the part: its sizes (and so its rank), dtype and
  // device; else one message naming both.
  void check_matches(const at::Tensor& t, const char* op) const;
};

// at::split_with_sizes(x, sizes, -1), differentiable, with the gradient
// laid out in `buffer` (made for x and these sizes: SplitGradientBuffer(x,
// sizes)); hand GradientInto{buffer, i} to one consumer of part i only: a
// second consumer writing the same slice would overwrite the first's
// gradient before autograd sums the two (other consumers of the part, given
// no GradientInto, are summed and copied in as usual).
std::vector<at::Tensor> split_with_gradient_buffer(const at::Tensor& x,
                                                   const c10::intrusive_ptr<SplitGradientBuffer>& buffer);

// A GradientInto through a custom Function's forward to its backward
// (ctx->saved_data, under `key`).
void save_gradient_into(torch::autograd::AutogradContext* ctx, const std::string& key, const GradientInto& into);
GradientInto saved_gradient_into(torch::autograd::AutogradContext* ctx, const std::string& key);

// The gradient g of a consumer's input, written into `into`'s slice where
// given (and returned as that slice), else g itself: the CPU paths' and
// fallbacks' way into the buffer.
at::Tensor gradient_into(const at::Tensor& g, const GradientInto& into);

}  // namespace hetero
