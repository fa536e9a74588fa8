// Images for the hetero-hf RADIO commands: a safetensors file of tensors
// [C, H, W] (or [1, C, H, W]), pixel values as transformers' RadioModel takes
// them, H and W multiples of patch_size; each image keeps its exact size.
#pragma once

#include <string>
#include <vector>

#include "data/image_batch.h"
#include "hetero/recipe.h"

namespace hetero {

struct RadioImages {
  ImageBatch batch;                // packed in name order, channel-major patch vectors (RADIO's)
  std::vector<std::string> names;  // per image
};

// Throws ConfigError naming the file and the image when a shape does not fit.
RadioImages read_radio_images(const std::string& path, const EncoderArch& arch, at::Device device);

}  // namespace hetero
