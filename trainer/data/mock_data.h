// Deterministic mock data (design §4): the content of sample `s` depends only
// on (data seed, s), never on which rank asks for it.
#pragma once

#include <cstdint>
#include <vector>

#include "hetero/recipe.h"

namespace hetero {

// Token id reserved for "an image embedding goes here".
inline constexpr std::int64_t kImagePlaceholder = 0;

// An image as the encoder sees it: drawn at height_px x width_px, resized to
// the patch grid dynamic resolution chose for it (choose_patch_grid), and cut
// into patches. Mock pixels are drawn directly at the resized grid.
struct MockImage {
  int height_px = 0, width_px = 0;  // before resizing
  int grid_h = 0, grid_w = 0;       // in patches, after resizing
  std::vector<float> patches;       // [grid_h * grid_w, patch_dim], row-major patch order
};

struct MockSample {
  // seq_length + 1 tokens: inputs are [0, S), labels are [1, S].
  std::vector<std::int64_t> tokens;
  std::vector<MockImage> images;  // in the order their placeholders appear
};

// Whether a sample's image pixels are made: only ranks that run the encoder
// need them (the LLM needs the tokens and each image's grid).
enum class Pixels { Make, Skip };

// Each image gets exactly as many placeholder tokens as the encoder outputs
// for its grid (embeddings_for, the one definition both sides use). With
// Pixels::Skip every image's `patches` stays empty; all else is identical.
MockSample make_mock_sample(const DataConfig& data, const LlmArch& llm, const EncoderArch& enc,
                            std::uint64_t global_index, Pixels pixels = Pixels::Make);

// LLM input rows of one image.
int embedding_rows(const MockImage& image);

}  // namespace hetero
