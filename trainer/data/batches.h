// A lane's microbatch as tensors: the text batch from its samples, and the
// list of its images (which rank_fetches says whose pixels a rank reads).
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "data/rank_plan.h"
#include "data/sample.h"
#include "data/text_batch.h"

namespace hetero {

TextBatch make_text_batch(const std::vector<Sample>& samples, at::Device device);

// One image of a microbatch: which sample, which of its images, its size.
struct ImageRef {
  std::uint64_t sample;
  int image;
  ImageMeta meta;
};
// The images of `samples` (global indices `indices`) in order, flattened.
std::vector<ImageRef> images_of(const std::vector<std::uint64_t>& indices, const std::vector<Sample>& samples);
// Loss tokens of the samples.
std::int64_t count_loss_tokens(const std::vector<Sample>& samples);

}  // namespace hetero
