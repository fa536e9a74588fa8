// Stand-in vision encoder: linear patch embedding with learned row/column
// position tables, transformer blocks over all images of a step packed into
// one sequence (each image attends only to itself), a final norm and an MLP
// projector to the LLM width. One output row per patch.
#pragma once

#include <vector>

#include <ATen/ATen.h>

#include "dist/comm.h"
#include "hetero/recipe.h"
#include "model/params.h"
#include "model/transformer_block.h"

namespace hetero {

// The images of one encoder forward, packed along the token axis.
struct PackedImages {
  at::Tensor patches;                // [total_patches, patch_dim]
  std::vector<int> grid_h, grid_w;   // per image, in patches
  int num_images() const { return static_cast<int>(grid_h.size()); }
};

class VisionEncoder {
 public:
  VisionEncoder(const EncoderArch& arch, int llm_hidden, std::uint64_t seed, const Group& tp, at::Device device,
                at::ScalarType compute);

  // Output rows an image of this grid produces (one per patch).
  static int rows_per_image(int grid_h, int grid_w) { return grid_h * grid_w; }

  // [total_rows, llm_hidden], fp32
  at::Tensor forward(const PackedImages& images) const;

  ParamSet& params() { return params_; }

 private:
  EncoderArch arch_;
  at::Device device_;
  at::ScalarType compute_;
  ParamSet params_;
  at::Tensor patch_embed_, pos_row_, pos_col_, final_norm_, proj_fc1_, proj_fc2_;
  std::vector<TransformerBlock> blocks_;
};

}  // namespace hetero
