// Mock data: a sample depends only on (seed, index); every image gets exactly
// as many placeholder tokens as the encoder produces rows for it.
#include <gtest/gtest.h>

#include <set>

#include "data/mock_data.h"
#include "hetero/recipe.h"

namespace hetero {
namespace {

int rows(int h, int w) { return h * w; }

const Recipe& tiny() {
  static const Recipe r = load_recipe(std::string(HETERO_SOURCE_DIR) + "/recipes/nemotron_20l", "tiny", {});
  return r;
}

MockSample sample(std::uint64_t i, std::uint64_t seed = 0) {
  DataConfig d = tiny().data;
  if (seed) d.seed = seed;
  return make_mock_sample(d, tiny().llm, tiny().encoder, rows, i);
}

TEST(MockData, PlaceholdersMatchImageRowsInContiguousBlocks) {
  const int seq = tiny().llm.seq_length;
  const int patch_dim = tiny().encoder.channels * tiny().encoder.patch_size * tiny().encoder.patch_size;
  for (std::uint64_t i = 0; i < 300; ++i) {
    const MockSample s = sample(i);
    ASSERT_EQ(static_cast<int>(s.tokens.size()), seq + 1);
    EXPECT_NE(s.tokens.front(), kImagePlaceholder);
    EXPECT_NE(s.tokens.back(), kImagePlaceholder);
    // Walk the placeholder runs; each run is one or more whole images.
    int expected = 0;
    for (const auto& img : s.images) {
      EXPECT_GE(img.grid_h, tiny().data.image_min_side);
      EXPECT_LE(img.grid_h, tiny().data.image_max_side);
      EXPECT_GE(img.grid_w, tiny().data.image_min_side);
      EXPECT_LE(img.grid_w, tiny().data.image_max_side);
      EXPECT_EQ(img.patches.size(), static_cast<size_t>(img.grid_h * img.grid_w * patch_dim));
      expected += rows(img.grid_h, img.grid_w);
    }
    int placeholders = 0;
    for (auto t : s.tokens) placeholders += t == kImagePlaceholder;
    EXPECT_EQ(placeholders, expected) << "sample " << i;
  }
}

TEST(MockData, DependsOnlyOnSeedAndIndex) {
  const MockSample a = sample(41), b = sample(41), c = sample(42), d = sample(41, 999);
  EXPECT_EQ(a.tokens, b.tokens);
  ASSERT_EQ(a.images.size(), b.images.size());
  for (size_t k = 0; k < a.images.size(); ++k) EXPECT_EQ(a.images[k].patches, b.images[k].patches);
  EXPECT_NE(a.tokens, c.tokens);
  EXPECT_NE(a.tokens, d.tokens);
}

TEST(MockData, MixesTextOnlyAndMultiImageSamples) {
  std::set<size_t> counts;
  for (std::uint64_t i = 0; i < 200; ++i) counts.insert(sample(i).images.size());
  EXPECT_EQ(counts, (std::set<size_t>{0, 1, 2, 3}));
}

}  // namespace
}  // namespace hetero
