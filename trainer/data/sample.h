// What a dataset returns for one global sample (design §8a): the text side
// every LLM rank needs, with each image's size and grid but no pixels, and,
// separately and only where asked, the pixels of one image. Torch-free.
#pragma once

#include <cstdint>
#include <vector>

#include "hetero/dynamic_resolution.h"

namespace hetero {

// Token id of "an image embedding row goes here" in mock data; real data
// names its own (data.image_token_id), and the LLM is told which.
inline constexpr std::int64_t kImagePlaceholder = 0;

// An image before decoding: its size on disk and the patch grid dynamic
// resolution chose for it (choose_patch_grid).
struct ImageMeta {
  int height_px = 0, width_px = 0;
  PatchGrid grid;
  // LLM input rows of the image (after the 2x2 pixel shuffle).
  int rows() const { return embeddings_for(grid); }
};

struct Sample {
  // seq_length + 1 tokens: inputs are [0, S), labels are [1, S]. Each image
  // occupies rows() consecutive placeholder tokens, in image order.
  std::vector<std::int64_t> tokens;
  // S values: 1 where label t (tokens[t + 1]) counts in the loss.
  std::vector<float> loss_mask;
  // Where each document or packed sub-sample starts in the inputs (0 first).
  std::vector<int> starts{0};
  std::vector<ImageMeta> images;
  // Bad samples of its source skipped to reach this one (data.skip_bad_samples).
  int skipped_before = 0;
};

// One image as the encoder sees it: resized to its grid and cut into
// patches, [grid.rows * grid.cols, channels * patch * patch], row-major patch
// order, each patch channel-major (channel, row, column) as RADIO flattens
// it. Real images give RGB in [0, 1] (the encoder's input conditioner
// normalises with the recipe's pixel_mean/pixel_std); mock pixels have unit variance.
struct ImagePixels {
  ImageMeta meta;
  std::vector<float> patches;
  bool replaced = false;  // did not decode; black instead (data.skip_bad_samples)
};

// Loss tokens of a sample.
inline std::int64_t loss_tokens(const Sample& s) {
  std::int64_t n = 0;
  for (float m : s.loss_mask) n += m > 0;
  return n;
}

}  // namespace hetero
