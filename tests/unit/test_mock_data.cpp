// Mock data: a sample depends only on (seed, index); every image gets exactly
// as many placeholder tokens as the encoder produces rows for it.
#include <gtest/gtest.h>

#include <set>

#include "data/mock_dataset.h"
#include "hetero/recipe.h"
#include "hetero/topology.h"

namespace hetero {
namespace {

// After the 2x2 pixel shuffle, one LLM row per 2x2 block of patches.
int rows(int h, int w) { return (h / 2) * (w / 2); }

const Recipe& tiny() {
  static const Recipe r = load_recipe(std::string(HETERO_SOURCE_DIR) + "/recipes/nemotron_20l", "tiny", {});
  return r;
}

MockDataset mock(std::uint64_t seed = 0) {
  DataConfig d = tiny().data;
  if (seed) d.seed = seed;
  return MockDataset(d, tiny().llm, tiny().encoder);
}

Sample sample(std::uint64_t i, std::uint64_t seed = 0) { return mock(seed).sample(i); }

// Grids are even-sided and inside the recipe's patch budget.
void expect_grid_in_budget(const ImageMeta& img, const EncoderArch& e) {
  EXPECT_EQ(img.grid.rows % 2, 0) << img.grid.rows;
  EXPECT_EQ(img.grid.cols % 2, 0) << img.grid.cols;
  EXPECT_GE(img.grid.patches(), e.min_patches) << img.grid.rows << "x" << img.grid.cols;
  EXPECT_LE(img.grid.patches(), e.max_patches) << img.grid.rows << "x" << img.grid.cols;
}

TEST(MockData, PlaceholdersMatchImageRowsInContiguousBlocks) {
  const int seq = tiny().llm.seq_length;
  const int patch_dim = tiny().encoder.channels * tiny().encoder.patch_size * tiny().encoder.patch_size;
  for (std::uint64_t i = 0; i < 300; ++i) {
    const Sample s = sample(i);
    ASSERT_EQ(static_cast<int>(s.tokens.size()), seq + 1);
    EXPECT_NE(s.tokens.front(), kImagePlaceholder);
    EXPECT_NE(s.tokens.back(), kImagePlaceholder);
    // Walk the placeholder runs; each run is one or more whole images.
    int expected = 0;
    for (size_t k = 0; k < s.images.size(); ++k) {
      const ImageMeta& img = s.images[k];
      EXPECT_GE(img.height_px, tiny().data.image_min_px);
      EXPECT_LE(img.height_px, tiny().data.image_max_px);
      expect_grid_in_budget(img, tiny().encoder);
      EXPECT_EQ(img.rows(), rows(img.grid.rows, img.grid.cols));
      EXPECT_EQ(mock().image(i, static_cast<int>(k)).patches.size(), static_cast<size_t>(img.grid.patches() * patch_dim));
      expected += rows(img.grid.rows, img.grid.cols);
    }
    int placeholders = 0;
    for (auto t : s.tokens) placeholders += t == kImagePlaceholder;
    EXPECT_EQ(placeholders, expected) << "sample " << i;
  }
}

TEST(MockData, DependsOnlyOnSeedAndIndex) {
  const Sample a = sample(41), b = sample(41), c = sample(42), d = sample(41, 999);
  EXPECT_EQ(a.tokens, b.tokens);
  ASSERT_EQ(a.images.size(), b.images.size());
  for (size_t k = 0; k < a.images.size(); ++k)
    EXPECT_EQ(mock().image(41, static_cast<int>(k)).patches, mock().image(41, static_cast<int>(k)).patches);
  EXPECT_NE(a.tokens, c.tokens);
  EXPECT_NE(a.tokens, d.tokens);
}

TEST(MockData, MixesTextOnlyAndMultiImageSamples) {
  std::set<size_t> counts;
  for (std::uint64_t i = 0; i < 200; ++i) counts.insert(sample(i).images.size());
  EXPECT_EQ(counts, (std::set<size_t>{0, 1, 2, 3}));
}

// The loss skips exactly the labels that are image placeholders.
TEST(MockData, LossMaskSkipsPlaceholderLabels) {
  for (std::uint64_t i = 0; i < 50; ++i) {
    const Sample s = sample(i);
    ASSERT_EQ(s.loss_mask.size(), s.tokens.size() - 1);
    for (size_t t = 0; t < s.loss_mask.size(); ++t)
      EXPECT_EQ(s.loss_mask[t], s.tokens[t + 1] == kImagePlaceholder ? 0.f : 1.f) << i << " " << t;
  }
}

TEST(MockData, ImagesFarBelowAndAboveTheBudgetGetGridsInsideIt) {
  for (const auto& px : std::vector<std::pair<int, int>>{{1, 1}, {1, 3}, {5000, 20000}, {1, 20000}}) {
    const Recipe r = load_recipe(std::string(HETERO_SOURCE_DIR) + "/recipes/nemotron_20l", "tiny",
                                 {"data.image_min_px=" + std::to_string(px.first),
                                  "data.image_max_px=" + std::to_string(px.second)});
    int images = 0;
    for (std::uint64_t i = 0; i < 100; ++i)
      for (const ImageMeta& img : MockDataset(r.data, r.llm, r.encoder).sample(i).images) {
        ++images;
        expect_grid_in_budget(img, r.encoder);
      }
    EXPECT_GT(images, 0) << px.first << ".." << px.second << " px";
  }
}

// Partial participation: under fan-in (two encoder replicas per lane) the
// first 10 iterations of tiny hold microbatches whose images all go to one
// replica, the other encoding nothing, as well as microbatches both share.
// The fan-in invariance tests run exactly these samples (GBS 8, MBS 1, one
// lane: microbatch m of iteration i is sample 8(i-1)+m), so they show that
// summed gradients need no rescaling for the idle replica.
TEST(MockData, FanInRunsHaveIdleEncoderReplicas) {
  int one_idle = 0, both_busy = 0;
  for (std::uint64_t s = 0; s < 80; ++s) {
    const int n = static_cast<int>(sample(s).images.size());
    int busy = 0;
    for (int part = 0; part < 2; ++part) {
      const auto [b, e] = fan_in_image_range(n, 2, part);
      busy += e > b;
    }
    one_idle += busy == 1;
    both_busy += busy == 2;
  }
  EXPECT_GT(one_idle, 0);
  EXPECT_GT(both_busy, 0);
}

}  // namespace
}  // namespace hetero
