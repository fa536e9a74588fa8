#include "model/image_attention.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <torch/csrc/autograd/custom_function.h>

#include "dist/device_copy.h"

namespace hetero {
namespace {

// One image's rows of a packed [tokens, heads, d] tensor as [heads, n, d].
at::Tensor image_heads(const at::Tensor& x, int64_t offset, int64_t n) { return x.narrow(0, offset, n).transpose(0, 1); }

at::Tensor reference_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                               const PackedImages& images) {
  const double root_d = std::sqrt(static_cast<double>(q.size(2)));
  std::vector<at::Tensor> out;
  for (int i = 0; i < images.count(); ++i) {
    const int64_t offset = images.offsets[i], n = images.offsets[i + 1] - offset;
    const at::Tensor qi = image_heads(q, offset, n), ki = image_heads(k, offset, n), vi = image_heads(v, offset, n);
    const at::Tensor scores = at::matmul(qi, ki.transpose(-2, -1)).to(at::kFloat) / root_d;  // [heads, n, n]
    const at::Tensor probs = at::softmax(scores, -1).to(q.scalar_type());
    out.push_back(at::matmul(probs, vi).transpose(0, 1));  // [n, heads, d]
  }
  return at::cat(out, 0);
}

#ifdef HETERO_WITH_CUDA
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// FlashAttention's varlen kernel over the packed sequence: one launch for
// every image, no padding. ATen exposes the forward and backward without an
// autograd formula for this entry point, so they are paired here.
struct FlashVarlenAttention : public torch::autograd::Function<FlashVarlenAttention> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const at::Tensor& cu_seqlens, int64_t max_length, double scale) {
    auto outputs = at::_flash_attention_forward(q, k, v, cu_seqlens, cu_seqlens, max_length, max_length,
                                                /*dropout_p=*/0.0, /*is_causal=*/false,
                                                /*return_debug_mask=*/false, scale);
    const at::Tensor& out = std::get<0>(outputs);
    ctx->save_for_backward({q, k, v, out, std::get<1>(outputs), cu_seqlens, std::get<2>(outputs),
                            std::get<3>(outputs)});
    ctx->saved_data["max_length"] = max_length;
    ctx->saved_data["scale"] = scale;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list s = ctx->get_saved_variables();
    const int64_t max_length = ctx->saved_data["max_length"].toInt();
    const double scale = ctx->saved_data["scale"].toDouble();
    auto g = at::_flash_attention_backward(grads[0].contiguous(), s[0], s[1], s[2], s[3], s[4], s[5], s[5],
                                           max_length, max_length, /*dropout_p=*/0.0, /*is_causal=*/false, s[6],
                                           s[7], scale);
    return {std::get<0>(g), std::get<1>(g), std::get<2>(g), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

bool flash_supports(const at::Tensor& q) {
  const auto dtype = q.scalar_type();
  const int64_t d = q.size(2);
  return q.is_cuda() && (dtype == at::kBFloat16 || dtype == at::kHalf) && d % 8 == 0 && d <= 256;
}

at::Tensor varlen_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const PackedImages& images) {
  if (!flash_supports(q))
    throw std::invalid_argument("the varlen attention kernel needs bf16 or fp16 and a head size that is a multiple "
                                "of 8 up to 256 (have " + std::string(c10::toString(q.scalar_type())) + ", " +
                                std::to_string(q.size(2)) + "); use fused");
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(2)));
  return FlashVarlenAttention::apply(q.contiguous(), k.contiguous(), v.contiguous(), images.device_offsets,
                                     images.max_length, scale);
}

at::Tensor fused_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const PackedImages& images) {
  const int64_t heads = q.size(1), d = q.size(2);
  // A group's rows: the whole tensor where one group is every token (the
  // common case: images of one size), so that no backward zero-fills a
  // [T, heads, d] gradient to copy a slice into it, as narrow's does.
  auto group_rows = [&](const at::Tensor& x, const SizeGroup& g) {
    if (g.first_token == 0 && g.count * g.length == x.size(0)) return x;
    return g.first_token >= 0 ? x.narrow(0, g.first_token, g.count * g.length) : x.index_select(0, g.tokens);
  };
  std::vector<at::Tensor> out;
  for (const SizeGroup& g : images.size_groups) {
    auto batch = [&](const at::Tensor& x) {  // [count, heads, length, d]
      return group_rows(x, g).reshape({g.count, g.length, heads, d}).transpose(1, 2);
    };
    out.push_back(at::scaled_dot_product_attention(batch(q), batch(k), batch(v))
                      .transpose(1, 2)
                      .reshape({g.count * g.length, heads, d}));
  }
  const at::Tensor grouped = out.size() == 1 ? out[0] : at::cat(out, 0);
  return images.restore_order.defined() ? grouped.index_select(0, images.restore_order) : grouped;
}
#endif

}  // namespace

AttentionKernel default_attention_kernel(at::Device device) {
#ifdef HETERO_WITH_CUDA
  if (device.is_cuda()) return AttentionKernel::Fused;
#endif
  (void)device;
  return AttentionKernel::Reference;
}

AttentionKernel parse_attention_kernel(const std::string& name, at::Device device) {
  if (name == "reference") return AttentionKernel::Reference;
  if (name != "fused" && name != "varlen")
    throw std::invalid_argument("attention kernel '" + name + "' is not reference, fused or varlen");
  if (default_attention_kernel(device) != AttentionKernel::Fused)
    throw std::invalid_argument("the " + name + " attention kernel needs a CUDA build and a CUDA device (device " +
                                device.str() + "); use reference");
  return name == "fused" ? AttentionKernel::Fused : AttentionKernel::Varlen;
}

PackedImages::PackedImages(std::vector<int64_t> offsets_in, at::Device device) : offsets(std::move(offsets_in)) {
  if (offsets.empty() || offsets.front() != 0)
    throw std::invalid_argument("packed image offsets must start at 0");
  std::vector<int32_t> narrow;
  for (size_t i = 0; i < offsets.size(); ++i) {
    if (i > 0) {
      if (offsets[i] <= offsets[i - 1])
        throw std::invalid_argument("packed image offsets must increase: image " + std::to_string(i - 1) + " spans [" +
                                    std::to_string(offsets[i - 1]) + ", " + std::to_string(offsets[i]) + ")");
      max_length = std::max(max_length, offsets[i] - offsets[i - 1]);
    }
    narrow.push_back(static_cast<int32_t>(offsets[i]));
  }
  device_offsets = copy_to_device(at::tensor(narrow, at::kInt), device);

  // Images grouped by length for the fused kernel, with each group's tokens.
  std::vector<std::vector<int>> members;
  for (int i = 0; i < count(); ++i) {
    const int64_t length = offsets[i + 1] - offsets[i];
    size_t g = 0;
    while (g < size_groups.size() && size_groups[g].length != length) ++g;
    if (g == size_groups.size()) {
      size_groups.push_back(SizeGroup{length, 0, -1, at::Tensor()});
      members.emplace_back();
    }
    ++size_groups[g].count;
    members[g].push_back(i);
  }
  std::vector<int64_t> order;  // the groups' tokens, group after group
  for (size_t g = 0; g < size_groups.size(); ++g) {
    const std::vector<int>& m = members[g];
    std::vector<int64_t> tokens;
    for (int i : m)
      for (int64_t p = offsets[i]; p < offsets[i + 1]; ++p) tokens.push_back(p);
    if (m.back() - m.front() + 1 == static_cast<int>(m.size()))
      size_groups[g].first_token = offsets[m.front()];
    else
      size_groups[g].tokens = copy_to_device(at::tensor(tokens, at::kLong), device);
    order.insert(order.end(), tokens.begin(), tokens.end());
  }
  bool in_order = true;
  for (size_t i = 0; i < order.size() && in_order; ++i) in_order = order[i] == static_cast<int64_t>(i);
  if (in_order) return;
  std::vector<int64_t> restore(order.size());
  for (size_t i = 0; i < order.size(); ++i) restore[order[i]] = static_cast<int64_t>(i);
  restore_order = copy_to_device(at::tensor(restore, at::kLong), device);
}

at::Tensor image_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const PackedImages& images,
                           AttentionKernel kernel) {
  if (q.dim() != 3 || q.size(0) != images.tokens())
    throw std::invalid_argument("image attention: queries have " + std::to_string(q.size(0)) +
                                " rows, the packed images " + std::to_string(images.tokens()));
  if (images.count() == 0) return at::empty_like(q);
#ifdef HETERO_WITH_CUDA
  if (kernel == AttentionKernel::Fused) return fused_attention(q, k, v, images);
  if (kernel == AttentionKernel::Varlen) return varlen_attention(q, k, v, images);
#endif
  if (kernel != AttentionKernel::Reference)
    throw std::logic_error("image attention: only the reference kernel is part of this build");
  return reference_attention(q, k, v, images);
}

}  // namespace hetero
