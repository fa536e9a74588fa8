// Deterministic mock data (design §4): the content of sample `s` depends only
// on (data seed, s), never on which rank asks for it.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "hetero/recipe.h"

namespace hetero {

// Token id reserved for "an image embedding goes here".
inline constexpr std::int64_t kImagePlaceholder = 0;

struct MockImage {
  int grid_h = 0, grid_w = 0;  // in patches
  std::vector<float> patches;  // [grid_h * grid_w, patch_dim], row-major patch order
};

struct MockSample {
  // seq_length + 1 tokens: inputs are [0, S), labels are [1, S].
  std::vector<std::int64_t> tokens;
  std::vector<MockImage> images;  // in the order their placeholders appear
};

// How many LLM input rows the encoder produces for an image of this grid.
using RowsPerImage = std::function<int(int grid_h, int grid_w)>;

MockSample make_mock_sample(const DataConfig& data, const LlmArch& llm, const EncoderArch& enc,
                            const RowsPerImage& rows_per_image, std::uint64_t global_index);

}  // namespace hetero
