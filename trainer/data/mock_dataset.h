// Deterministic mock data (design §4): the content of sample `s` depends only
// on (data seed, s), never on which rank asks for it.
#pragma once

#include <cstdint>
#include <vector>

#include "data/dataset.h"
#include "hetero/recipe.h"

namespace hetero {

// Each image gets exactly as many placeholder tokens (kImagePlaceholder) as
// the encoder outputs for its grid; the loss skips labels that are
// placeholders. Mock pixels are drawn directly at the resized grid.
class MockDataset : public Dataset {
 public:
  MockDataset(const DataConfig& data, const LlmArch& llm, const EncoderArch& enc)
      : data_(data), llm_(llm), enc_(enc) {}
  Sample sample(std::uint64_t index) const override;
  ImagePixels image(std::uint64_t index, int image) const override;
  std::string describe() const override { return "mock data (seed " + std::to_string(data_.seed) + ")"; }

 private:
  // The sample and, per image, the key its pixels are drawn from.
  Sample draw(std::uint64_t index, std::vector<std::uint64_t>* pixel_keys) const;

  DataConfig data_;
  LlmArch llm_;
  EncoderArch enc_;
};

}  // namespace hetero
