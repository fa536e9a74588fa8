// Patch-grid choice for dynamic resolution: budget, aspect ratio, even sides.
#include <gtest/gtest.h>

#include <cmath>

#include "hetero/dynamic_resolution.h"

namespace hetero {
namespace {

TEST(PatchGrid, ImagesInsideTheBudgetKeepTheirNaturalGrid) {
  // 448 x 640 px at 16 px patches is 28 x 40 = 1120 patches.
  const PatchGrid g = choose_patch_grid(448, 640, 16, 256, 4096);
  EXPECT_EQ(g.rows, 28);
  EXPECT_EQ(g.cols, 40);
  EXPECT_EQ(embeddings_for(g), 14 * 20);
}

TEST(PatchGrid, LargeImagesShrinkToTheMaximum) {
  // 4096 x 4096 px is 256 x 256 patches; max 1024 gives 32 x 32.
  const PatchGrid g = choose_patch_grid(4096, 4096, 16, 64, 1024);
  EXPECT_EQ(g.rows, 32);
  EXPECT_EQ(g.cols, 32);
}

TEST(PatchGrid, SmallImagesGrowToTheMinimum) {
  // 16 x 16 px is one patch; min 64 gives 8 x 8.
  const PatchGrid g = choose_patch_grid(16, 16, 16, 64, 1024);
  EXPECT_EQ(g.rows, 8);
  EXPECT_EQ(g.cols, 8);
}

TEST(PatchGrid, OddSizesGiveEvenSides) {
  for (int h : {17, 33, 100, 257, 999})
    for (int w : {15, 31, 99, 513}) {
      const PatchGrid g = choose_patch_grid(h, w, 16, 16, 2048);
      EXPECT_EQ(g.rows % 2, 0) << h << "x" << w;
      EXPECT_EQ(g.cols % 2, 0) << h << "x" << w;
      EXPECT_GE(g.patches(), 16) << h << "x" << w;
      EXPECT_LE(g.patches(), 2048) << h << "x" << w;
    }
}

TEST(PatchGrid, AspectRatioIsKept) {
  for (auto [h, w] : {std::pair{720, 1280}, {1080, 1920}, {600, 400}, {300, 2000}}) {
    const PatchGrid g = choose_patch_grid(h, w, 16, 256, 1024);
    const double want = static_cast<double>(h) / w, got = static_cast<double>(g.rows) / g.cols;
    // Within what one step of 2 patches on the shorter side can change.
    EXPECT_NEAR(std::log(got / want), 0.0, std::log((std::min(g.rows, g.cols) + 2.0) / std::min(g.rows, g.cols)))
        << h << "x" << w << " -> " << g.rows << "x" << g.cols;
    EXPECT_LE(g.patches(), 1024);
    EXPECT_GE(g.patches(), 256);
  }
}

TEST(PatchGrid, ExtremeAspectRatiosStayInTheBudget) {
  // 16 x 8000 px: a 1 x 500 strip; the short side is held at 2.
  const PatchGrid wide = choose_patch_grid(16, 8000, 16, 64, 512);
  EXPECT_EQ(wide.rows, 2);
  EXPECT_LE(wide.patches(), 512);
  EXPECT_GE(wide.patches(), 64);
  const PatchGrid tall = choose_patch_grid(8000, 16, 16, 64, 512);
  EXPECT_EQ(tall.cols, 2);
  EXPECT_LE(tall.patches(), 512);
}

TEST(PatchGrid, RejectsNonsense) {
  EXPECT_THROW(choose_patch_grid(0, 10, 16, 16, 64), std::invalid_argument);
  EXPECT_THROW(choose_patch_grid(10, 10, 16, 64, 16), std::invalid_argument);
}

}  // namespace
}  // namespace hetero
