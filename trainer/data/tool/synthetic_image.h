// Photograph-like test images for generated datasets and the benchmark.
#pragma once

#include <cstdint>

#include "data/image_codec.h"

namespace hetero::data_tool {

// A smooth colour field with some noise, a pure function of (size, key): it
// compresses like a photograph rather than like a flat test card.
RgbImage synthetic_image(int height, int width, std::uint64_t key);

}  // namespace hetero::data_tool
