#include "model/radio_ops.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace hetero {

at::Tensor interpolate_position_table(const at::Tensor& table, int64_t rows, int64_t cols) {
  const at::Tensor chw = table.permute({2, 0, 1}).unsqueeze(0);  // [1, C, side, side]
  const at::Tensor out = at::upsample_bilinear2d(chw, {rows, cols}, /*align_corners=*/false);
  return out.squeeze(0).permute({1, 2, 0});  // [rows, cols, C]
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
