// Softmax attention within each image of a packed sequence (design §6): a
// query attends to the keys of its own image only, and no tensor grows with
// the square of the packed length. Two implementations of one contract:
//
// - Reference (any device): image by image, scores and softmax in fp32 on an
//   [heads, n, n] block per image, the products in the compute dtype.
// - Fused (CUDA builds, CUDA tensors): FlashAttention's variable-length
//   kernel over the whole packed sequence (bf16/fp16, head_dim a multiple of
//   8 up to 256), with its backward; other dtypes or head sizes run
//   PyTorch's scaled_dot_product_attention image by image.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/ATen.h>

namespace hetero {

enum class AttentionKernel { Reference, Fused };

// What a build runs by default on `device`: Fused for CUDA devices of a CUDA
// build, else Reference.
AttentionKernel default_attention_kernel(at::Device device);
// "reference" or "fused"; fused on a build or device without it throws.
AttentionKernel parse_attention_kernel(const std::string& name, at::Device device);

// Where each image's tokens lie in the packed sequence: image i is
// [offsets[i], offsets[i + 1]).
struct PackedImages {
  std::vector<int64_t> offsets{0};
  at::Tensor device_offsets;  // the same as int32 on the compute device (the fused kernel's cu_seqlens)
  int64_t max_length = 0;

  PackedImages() = default;
  PackedImages(std::vector<int64_t> offsets, at::Device device);
  int count() const { return static_cast<int>(offsets.size()) - 1; }
  int64_t tokens() const { return offsets.back(); }
};

// q, k, v: [tokens, heads, head_dim] in one dtype; returns [tokens, heads,
// head_dim] in that dtype. Scale 1/sqrt(head_dim). Differentiable.
at::Tensor image_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const PackedImages& images,
                           AttentionKernel kernel);

}  // namespace hetero
