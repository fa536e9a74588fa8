// RADIO vision encoder with dynamic resolution (design §6): linear patch
// embedding, the learned position grid interpolated to each image's grid,
// class and register tokens prepended per image, transformer blocks over all
// images of a forward packed into one sequence (each image attends only to
// itself), a final norm, summary tokens dropped, 2x2 pixel shuffle, and an
// MLP projector to the LLM width.
#pragma once

#include <vector>

#include <ATen/ATen.h>

#include "data/image_batch.h"
#include "dist/comm.h"
#include "hetero/recipe.h"
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

  ParamSet& params() { return params_; }

 private:
  // [patches, hidden]: after the final norm, summary tokens dropped.
  at::Tensor vit(const ImageBatch& images) const;

  EncoderArch arch_;
  at::Device device_;
  at::ScalarType compute_;
  ParamSet params_;
  at::Tensor patch_embed_, pos_embed_, summary_tokens_, final_norm_;
  at::Tensor proj_norm_, proj_fc1_, proj_fc2_;
  std::vector<TransformerBlock> blocks_;
};

}  // namespace hetero
