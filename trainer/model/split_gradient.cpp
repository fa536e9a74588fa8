#include "model/split_gradient.h"

#include <numeric>
#include <stdexcept>
#include <string>

#include "hetero/shape_text.h"

namespace hetero {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct SplitWithGradientBuffer : torch::autograd::Function<SplitWithGradientBuffer> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& x,
                               const c10::intrusive_ptr<SplitGradientBuffer>& buffer) {
    save_gradient_into(ctx, "buffer", GradientInto{buffer, 0});
    return at::split_with_sizes(x, buffer->sizes(), -1);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const c10::intrusive_ptr<SplitGradientBuffer> buffer = saved_gradient_into(ctx, "buffer").buffer;
    for (size_t i = 0; i < grads.size(); ++i) {
      const int64_t part = static_cast<int64_t>(i);
      if (!grads[i].defined()) {
        buffer->slice(part).zero_();
      } else if (!buffer->is_slice(grads[i], part)) {
        buffer->slice(part).copy_(grads[i]);
      }
    }
    at::Tensor whole = buffer->whole();
    buffer->release();  // autograd holds the gradient now; the graph's saved data need not
    return {whole, at::Tensor()};
  }
};

}  // namespace

SplitGradientBuffer::SplitGradientBuffer(const at::Tensor& like, std::vector<int64_t> sizes)
    : shape_(like.sizes().vec()), sizes_(std::move(sizes)), options_(like.options().requires_grad(false)) {
  const int64_t total = std::accumulate(sizes_.begin(), sizes_.end(), int64_t{0});
  if (shape_.empty() || total != shape_.back())
    throw std::invalid_argument("SplitGradientBuffer: the part sizes sum to " + std::to_string(total) +
                                ", not the last dim of " + shape_text(shape_));
}

at::Tensor SplitGradientBuffer::whole() {
  if (!buffer_.defined()) buffer_ = at::empty(shape_, options_);
  return buffer_;
}

void SplitGradientBuffer::release() { buffer_ = at::Tensor(); }

at::Tensor SplitGradientBuffer::part_of(const at::Tensor& buffer, int64_t part) const {
  const int64_t first = std::accumulate(sizes_.begin(), sizes_.begin() + part, int64_t{0});
  return buffer.narrow(-1, first, sizes_.at(part));
}

at::Tensor SplitGradientBuffer::slice(int64_t part) { return part_of(whole(), part); }

bool SplitGradientBuffer::matches_part(const at::Tensor& t, int64_t part) const {
  std::vector<int64_t> want = shape_;
  want.back() = sizes_.at(part);
  return t.sizes() == at::IntArrayRef(want) && t.scalar_type() == c10::typeMetaToScalarType(options_.dtype()) &&
         t.device() == options_.device();
}

bool SplitGradientBuffer::is_slice(const at::Tensor& g, int64_t part) const {
  if (!buffer_.defined()) return false;
  const at::Tensor s = part_of(buffer_, part);
  return g.data_ptr() == s.data_ptr() && g.sizes() == s.sizes() && g.strides() == s.strides() &&
         g.scalar_type() == s.scalar_type();
}

std::vector<at::Tensor> split_with_gradient_buffer(const at::Tensor& x,
                                                   const c10::intrusive_ptr<SplitGradientBuffer>& buffer) {
  return SplitWithGradientBuffer::apply(x, buffer);
}

void GradientInto::check_matches(const at::Tensor& t, const char* op) const {
  if (!defined() || buffer->matches_part(t, part)) return;
  throw std::invalid_argument(std::string(op) + ": the gradient buffer's part " + std::to_string(part) + " of " +
                              shape_text(buffer->shape()) + " split " + shape_text(buffer->sizes()) +
                              " does not match the input " + shape_text(t.sizes()) + " it would hold the gradient of");
}

void save_gradient_into(AutogradContext* ctx, const std::string& key, const GradientInto& into) {
  if (!into.defined()) return;
  ctx->saved_data[key] = at::IValue::make_capsule(into.buffer);
  ctx->saved_data[key + ".part"] = into.part;
}

GradientInto saved_gradient_into(AutogradContext* ctx, const std::string& key) {
  const auto found = ctx->saved_data.find(key);
  if (found == ctx->saved_data.end()) return {};
  return GradientInto{c10::static_intrusive_pointer_cast<SplitGradientBuffer>(found->second.toCapsule()),
                      ctx->saved_data[key + ".part"].toInt()};
}

at::Tensor gradient_into(const at::Tensor& g, const GradientInto& into) {
  if (!into.defined()) return g;
  at::Tensor slice = into.slice();
  slice.copy_(g);
  return slice;
}

}  // namespace hetero
