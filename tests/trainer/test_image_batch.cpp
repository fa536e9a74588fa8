// Routed batches: several lanes' images merge into one packed forward by the
// batch schema, and the forward's rows split back to the right lane, for
// lanes of identical shapes (seed 004's failure) and of different shapes.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "data/image_batch.h"
#include "model/radio_ops.h"

namespace hetero {
namespace {

constexpr int kPatchDim = 3;

ImageBatch lane(const std::vector<PatchGrid>& grids, float base) {
  std::vector<ImagePixels> images;
  for (const PatchGrid& g : grids) {
    ImagePixels img;
    img.meta.grid = g;
    for (int k = 0; k < g.patches() * kPatchDim; ++k) img.patches.push_back(base + static_cast<float>(k));
    base += 1000;
    images.push_back(std::move(img));
  }
  return make_image_batch(images, kPatchDim, at::kCPU);
}

// Stands in for the encoder: one row per 2x2 block of each image, computed
// image by image from the batch's own schema.
at::Tensor per_image_rows(const ImageBatch& b) {
  std::vector<at::Tensor> rows;
  for (int i = 0; i < b.num_images(); ++i) {
    const PatchGrid& g = b.grids[i];
    rows.push_back(pixel_shuffle_2x2(b.pixels.narrow(0, b.cu_seqlens[i], g.patches()), g.rows, g.cols));
  }
  return rows.empty() ? at::empty({0, 4 * kPatchDim}) : at::cat(rows, 0);
}

void expect_round_trip(const std::vector<ImageBatch>& lanes) {
  const LaneMerge m = merge_lanes(lanes);
  const auto split = split_rows_per_lane(per_image_rows(m.batch), m);
  ASSERT_EQ(split.size(), lanes.size());
  for (size_t i = 0; i < lanes.size(); ++i) {
    EXPECT_EQ(m.images_per_lane[i], lanes[i].num_images());
    EXPECT_TRUE(at::equal(split[i], per_image_rows(lanes[i]))) << "lane " << i;
  }
}

TEST(ImageBatch, MergeShiftsCuSeqlensByEachLanesPatchOffset) {
  const ImageBatch a = lane({{2, 2}, {4, 2}}, 0), b = lane({{2, 4}, {2, 2}}, 5000);
  const LaneMerge m = merge_lanes({a, b});
  // a: 4 + 8 patches; b: 8 + 4 patches, after a's 12.
  EXPECT_EQ(m.batch.cu_seqlens, (std::vector<int64_t>{0, 4, 12, 20, 24}));
  EXPECT_EQ(m.batch.pixels.size(0), 24);
  EXPECT_EQ(m.images_per_lane, (std::vector<int>{2, 2}));
  EXPECT_EQ(m.rows_per_lane, (std::vector<int64_t>{1 + 2, 2 + 1}));
  EXPECT_TRUE(at::equal(m.batch.pixels.narrow(0, 12, 12), b.pixels));
}

TEST(ImageBatch, LanesOfIdenticalShapesRoundTrip) {
  const ImageBatch a = lane({{2, 4}, {2, 2}}, 0), b = lane({{2, 4}, {2, 2}}, 9000);
  ASSERT_EQ(a.pixels.sizes(), b.pixels.sizes());
  ASSERT_FALSE(at::equal(a.pixels, b.pixels));
  expect_round_trip({a, b});
  expect_round_trip({a, b, a});
}

TEST(ImageBatch, LanesOfDifferentShapesAndEmptyLanesRoundTrip) {
  expect_round_trip({lane({{2, 2}}, 0), lane({}, 0), lane({{4, 6}, {2, 8}, {2, 2}}, 7000)});
  expect_round_trip({lane({}, 0), lane({{6, 2}}, 100)});
  expect_round_trip({lane({}, 0), lane({}, 0)});
}

TEST(ImageBatch, SplitRejectsOutputOfTheWrongLength) {
  const LaneMerge m = merge_lanes({lane({{2, 2}}, 0), lane({{2, 4}}, 0)});
  EXPECT_THROW(split_rows_per_lane(at::zeros({4, 12}), m), std::logic_error);
}

}  // namespace
}  // namespace hetero
