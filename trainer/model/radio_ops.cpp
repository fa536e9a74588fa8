#include "model/radio_ops.h"

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace hetero {

namespace {

// The [out, in] matrix of 1-D linear interpolation with align_corners=false:
// output o reads source (o + 0.5) * in/out - 0.5, clamped at 0, from its two
// neighbours (the upper one clamped to the last index). In float, as
// ATen's upsample kernels compute their weights.
at::Tensor linear_resize_matrix(int64_t in, int64_t out, const at::TensorOptions& options) {
  at::Tensor m = at::zeros({out, in}, at::kFloat);
  float* w = m.data_ptr<float>();
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  for (int64_t o = 0; o < out; ++o) {
    const float source = std::max(0.0f, scale * (static_cast<float>(o) + 0.5f) - 0.5f);
    const int64_t lo = static_cast<int64_t>(source), hi = std::min(lo + 1, in - 1);
    const float upper = source - static_cast<float>(lo);
    w[o * in + lo] += 1.0f - upper;
    w[o * in + hi] += upper;
  }
  return m.to(options);
}

}  // namespace

// Separable: the columns resized by one matrix product, then the rows by
// another. Each output sums two products per axis, as a bilinear kernel
// does, but as GEMMs it spreads over every channel (ATen's NCHW upsample
// kernel loops over the 1280 channels in each of rows x cols threads: 2.8 ms
// per 44x44 image on an H200) and its backward is deterministic.
at::Tensor interpolate_position_table(const at::Tensor& table, int64_t rows, int64_t cols) {
  const int64_t side_r = table.size(0), side_c = table.size(1), c = table.size(2);
  const at::TensorOptions options = table.options().requires_grad(false);
  const at::Tensor by_cols = at::matmul(linear_resize_matrix(side_c, cols, options), table);  // [side_r, cols, C]
  const at::Tensor out = at::matmul(linear_resize_matrix(side_r, rows, options), by_cols.reshape({side_r, cols * c}));
  return out.view({rows, cols, c});
}

at::Tensor square_crop_position_table(const at::Tensor& table, int64_t rows, int64_t cols) {
  const int64_t m = std::max(rows, cols);
  return interpolate_position_table(table, m, m).narrow(0, 0, rows).narrow(1, 0, cols);
}

at::Tensor pixel_shuffle_2x2(const at::Tensor& tokens, int64_t rows, int64_t cols) {
  if (rows % 2 || cols % 2 || tokens.size(0) != rows * cols)
    throw std::invalid_argument("pixel shuffle needs an even grid matching the tokens: " + std::to_string(rows) + "x" +
                                std::to_string(cols) + " for " + std::to_string(tokens.size(0)) + " tokens");
  const int64_t c = tokens.size(1);
  // [r', 2, c', 2, C] -> [r', c', 2, 2, C]: the 2x2 block of each output, row-major.
  return tokens.reshape({rows / 2, 2, cols / 2, 2, c}).permute({0, 2, 1, 3, 4}).reshape({(rows / 2) * (cols / 2), 4 * c});
}

}  // namespace hetero
