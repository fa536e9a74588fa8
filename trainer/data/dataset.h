// The data seam (design §8a): a dataset answers for a global sample index.
// Implementations: the mock, Megatron indexed text (gpt_dataset.h),
// Energon-style image-text shards (image_text_dataset.h) and their blend
// (blended_dataset.h). A sample's content depends only on (data config,
// seed, index): never on which rank asks, in what order, or what was read
// before, so every layout and every resumed start sees the same data.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "data/sample.h"

namespace hetero {

// Bad data on disk: the message names the file, the sample key or offset,
// and the fix.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  // Tokens, loss mask, boundaries and image sizes; decodes no pixels.
  virtual Sample sample(std::uint64_t index) const = 0;
  // The pixels of image `image` of sample `index`.
  virtual ImagePixels image(std::uint64_t index, int image) const = 0;
  // Samples in one pass over the data (an epoch); 0 for endless sources.
  virtual std::uint64_t epoch_size() const { return 0; }
  // What this dataset is, for logs and `hetero-data inspect`.
  virtual std::string describe() const = 0;
};

}  // namespace hetero
