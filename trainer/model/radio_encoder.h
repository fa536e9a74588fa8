// RADIO vision encoder with dynamic resolution (design §6): the input
// conditioner (per-channel pixel mean/std, when the recipe gives them),
// linear patch embedding, the learned position grid interpolated to each
// image's grid, class and register tokens prepended per image, transformer
// blocks over all images of a forward packed into one sequence (each image
// attends only to itself: no tensor grows with the square of the packed
// length), a final norm (when the recipe has one), summary
// tokens dropped, 2x2 pixel shuffle, and an MLP projector to the LLM width.
//
// With the recipes' C-RADIO settings this is transformers' RadioModel: its
// `features` for an image are features() of that image here, and
// hf/hf_radio.h maps the parameter names. A patch's pixel vector is
// channel-major, (channel, row in patch, column in patch), as RADIO flattens
// it.
#pragma once

#include <vector>

#include <ATen/ATen.h>

#include "data/image_batch.h"
#include "dist/comm.h"
#include "hetero/recipe.h"
#include "model/image_attention.h"
#include "model/params.h"
#include "model/transformer_block.h"

namespace hetero {

class RadioEncoder {
 public:
  RadioEncoder(const EncoderArch& arch, int llm_hidden, std::uint64_t seed, const Group& tp, at::Device device,
               at::ScalarType compute);

  // [images.embedding_rows(), llm_hidden], fp32: image after image, each
  // image's rows in row-major order of its shuffled (rows/2 x cols/2) grid.
  at::Tensor forward(const ImageBatch& images) const;

  // [images.num_patches(), hidden], fp32: the ViT's per-patch features (after
  // the final norm if any, summary tokens dropped, before the pixel shuffle
  // and projector), image after image. Any grid works here (forward needs
  // even sides for the 2x2 pixel shuffle).
  at::Tensor features(const ImageBatch& images) const;

  // How attention within each image runs: the build's default for the
  // device (image_attention.h), or the reference path on request (tests and
  // the benchmark compare the two).
  void set_attention_kernel(AttentionKernel kernel) { attention_kernel_ = kernel; }

  ParamSet& params() { return params_; }
  const EncoderArch& arch() const { return arch_; }

 private:
  EncoderArch arch_;
  at::Device device_;
  at::ScalarType compute_;
  ComputeWeights weights_;  // bf16 copies of the weights, once per optimizer step
  AttentionKernel attention_kernel_;
  ParamSet params_;
  at::Tensor patch_embed_, pos_embed_, summary_tokens_;
  at::Tensor pixel_mean_, pixel_std_;  // [patch_dim] each, undefined without an input conditioner
  Norm final_norm_;                    // weight undefined without a final norm
  at::Tensor proj_norm_, proj_fc1_, proj_fc2_;
  std::vector<TransformerBlock> blocks_;
};

}  // namespace hetero
