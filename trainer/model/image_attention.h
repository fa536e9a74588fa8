// Softmax attention within each image of a packed sequence (design §6): a
// query attends to the keys of its own image only, and no tensor grows with
// the square of the packed length. Implementations of one contract:
//
// - Reference (any device): image by image, scores and softmax in fp32 on an
//   [heads, n, n] block per image, the products in the compute dtype.
// - Fused (CUDA builds, CUDA tensors): PyTorch's scaled_dot_product_attention
//   (its fused kernels: FlashAttention, cuDNN, memory-efficient) over the
//   images batched by size, one call per distinct image length.
// - Varlen (CUDA builds, bf16/fp16, head_dim a multiple of 8 up to 256):
//   FlashAttention's variable-length kernel, one call over the whole packed
//   sequence, with its backward.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/ATen.h>

namespace hetero {

enum class AttentionKernel { Reference, Fused, Varlen };

// What a build runs by default on `device`: Fused for CUDA devices of a CUDA
// build, else Reference.
AttentionKernel default_attention_kernel(at::Device device);
// "reference", "fused" or "varlen"; the last two throw off CUDA.
AttentionKernel parse_attention_kernel(const std::string& name, at::Device device);

// The images of one length, batched for the fused kernel.
struct SizeGroup {
  int64_t length = 0;
  int64_t count = 0;
  int64_t first_token = -1;  // >= 0: the images are consecutive in the packed sequence, from this token
  at::Tensor tokens;         // else: the group's token positions, image after image, on the device
};

// Where each image's tokens lie in the packed sequence: image i is
// [offsets[i], offsets[i + 1]). Built once per forward, used by every layer.
struct PackedImages {
  std::vector<int64_t> offsets{0};
  at::Tensor device_offsets;  // the same as int32 on the compute device (the varlen kernel's cu_seqlens)
  int64_t max_length = 0;
  // The images grouped by length, in order of first appearance, and the
  // permutation that puts the groups' tokens back in packed order
  // (undefined when they already are).
  std::vector<SizeGroup> size_groups;
  at::Tensor restore_order;

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
