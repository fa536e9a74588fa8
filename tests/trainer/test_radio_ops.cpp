// RADIO's position-table interpolation and pixel shuffle against plain
// loops written from their definitions.
#include <gtest/gtest.h>

#include <cmath>

#include <torch/torch.h>

#include "model/radio_ops.h"

namespace hetero {
namespace {

// Bilinear, align_corners=false: output centre i maps to source
// (i + 0.5) * in/out - 0.5, clamped at 0; the upper neighbour is clamped to
// the last index.
double bilinear_reference(const at::Tensor& table, int64_t i, int64_t j, int64_t ch, int64_t rows, int64_t cols) {
  const int64_t side_r = table.size(0), side_c = table.size(1);
  auto source = [](int64_t o, int64_t in, int64_t out) { return std::max(0.0, (o + 0.5) * in / out - 0.5); };
  const double y = source(i, side_r, rows), x = source(j, side_c, cols);
  const int64_t y0 = static_cast<int64_t>(std::floor(y)), x0 = static_cast<int64_t>(std::floor(x));
  const int64_t y1 = std::min(y0 + 1, side_r - 1), x1 = std::min(x0 + 1, side_c - 1);
  const double wy = y - y0, wx = x - x0;
  auto v = [&](int64_t a, int64_t b) { return table[a][b][ch].item<double>(); };
  return (1 - wy) * ((1 - wx) * v(y0, x0) + wx * v(y0, x1)) + wy * ((1 - wx) * v(y1, x0) + wx * v(y1, x1));
}

TEST(PositionTable, BilinearAlignCornersFalse) {
  torch::manual_seed(3);
  const at::Tensor table = torch::randn({6, 6, 3});
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{4, 10}, {6, 6}, {12, 2}, {3, 5}}) {
    const at::Tensor got = interpolate_position_table(table, rows, cols);
    ASSERT_EQ(got.sizes(), (std::vector<int64_t>{rows, cols, 3}));
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j)
        for (int64_t ch = 0; ch < 3; ++ch)
          EXPECT_NEAR(got[i][j][ch].item<double>(), bilinear_reference(table, i, j, ch, rows, cols), 1e-5)
              << rows << "x" << cols << " at " << i << "," << j;
  }
}

// ATen's bilinear upsample (what transformers' RadioModel calls) on the
// table as [1, C, side, side], for larger, smaller and mixed grids; and the
// gradient, which flows back to the table through both.
TEST(PositionTable, MatchesATenUpsampleAndItsGradient) {
  torch::manual_seed(4);
  const at::Tensor table = torch::randn({16, 16, 8}, torch::requires_grad());
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{44, 44}, {8, 12}, {5, 30}, {16, 16}, {1, 3}}) {
    const at::Tensor want = at::upsample_bilinear2d(table.permute({2, 0, 1}).unsqueeze(0), {rows, cols}, false)
                                .squeeze(0)
                                .permute({1, 2, 0});
    const at::Tensor got = interpolate_position_table(table, rows, cols);
    EXPECT_LT((got - want).abs().max().item<double>(), 1e-5) << rows << "x" << cols;  // values O(1)
    const at::Tensor g = torch::randn({rows, cols, 8});
    const at::Tensor dwant = torch::autograd::grad({want}, {table}, {g})[0];
    const at::Tensor dgot = torch::autograd::grad({got}, {table}, {g})[0];
    EXPECT_LT((dgot - dwant).abs().max().item<double>(), 1e-5) << rows << "x" << cols;
  }
}

TEST(PositionTable, SameSizeIsIdentity) {
  const at::Tensor table = torch::randn({5, 7, 2});
  EXPECT_TRUE(torch::allclose(interpolate_position_table(table, 5, 7), table));
}

TEST(PixelShuffle, ConcatenatesEachTwoByTwoBlockRowMajor) {
  const int64_t rows = 4, cols = 6, c = 3;
  // Token (r, k) holds values that name it: 100*r + 10*k + channel.
  at::Tensor tokens = torch::empty({rows * cols, c});
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < cols; ++k)
      for (int64_t ch = 0; ch < c; ++ch) tokens[r * cols + k][ch] = 100.0 * r + 10.0 * k + ch;
  const at::Tensor out = pixel_shuffle_2x2(tokens, rows, cols);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{(rows / 2) * (cols / 2), 4 * c}));
  for (int64_t r = 0; r < rows / 2; ++r)
    for (int64_t k = 0; k < cols / 2; ++k) {
      const int64_t o = r * (cols / 2) + k;
      const int64_t sources[4][2] = {{2 * r, 2 * k}, {2 * r, 2 * k + 1}, {2 * r + 1, 2 * k}, {2 * r + 1, 2 * k + 1}};
      for (int q = 0; q < 4; ++q)
        for (int64_t ch = 0; ch < c; ++ch)
          EXPECT_EQ(out[o][q * c + ch].item<double>(), 100.0 * sources[q][0] + 10.0 * sources[q][1] + ch)
              << "output " << r << "," << k << " block " << q;
    }
}

TEST(PixelShuffle, RejectsOddGrids) {
  EXPECT_THROW(pixel_shuffle_2x2(torch::zeros({15, 2}), 3, 5), std::invalid_argument);
  EXPECT_THROW(pixel_shuffle_2x2(torch::zeros({10, 2}), 2, 4), std::invalid_argument);
}

}  // namespace
}  // namespace hetero
