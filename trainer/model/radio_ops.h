// Pieces of the RADIO encoder's dynamic-resolution path (design §6).
#pragma once

#include <ATen/ATen.h>

namespace hetero {

// The learned position table [side, side, C] resized to a grid [rows, cols, C]
// by bilinear interpolation with align_corners=false (pixel centres align).
at::Tensor interpolate_position_table(const at::Tensor& table, int64_t rows, int64_t cols);

// RADIO's cropped position embedding (CPE) as transformers' RadioModel runs
// it (train and eval alike): the table resized, as above, to the square of
// the longer side, m = max(rows, cols), then its top-left rows x cols.
at::Tensor square_crop_position_table(const at::Tensor& table, int64_t rows, int64_t cols);

// 2x2 pixel shuffle of one image's tokens [rows*cols, C] (row-major grid) to
// [(rows/2)*(cols/2), 4C]: output (r, c) concatenates inputs (2r, 2c),
// (2r, 2c+1), (2r+1, 2c), (2r+1, 2c+1), in that order.
at::Tensor pixel_shuffle_2x2(const at::Tensor& tokens, int64_t rows, int64_t cols);

}  // namespace hetero
