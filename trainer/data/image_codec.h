// Image decoding (libjpeg-turbo, libpng), the resize to a patch grid and the
// cut into patches; encoders for tests and generated datasets. Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hetero/dynamic_resolution.h"

namespace hetero {

enum class ImageFormat { Jpeg, Png };

struct RgbImage {
  int height = 0, width = 0;
  std::vector<std::uint8_t> rgb;  // height x width x 3
};

// The format told by the member's extension (jpg, jpeg, png); false if none.
bool image_format_of_extension(const std::string& ext, ImageFormat* format);

// Width and height from the file header alone (no pixels decoded). Throws
// std::runtime_error with the decoder's reason.
void image_size(const std::uint8_t* data, std::size_t size, ImageFormat format, int* height, int* width);

// Decodes to 8-bit RGB (grey and palette images expanded, alpha dropped).
// Throws std::runtime_error with the decoder's reason.
RgbImage decode_image(const std::uint8_t* data, std::size_t size, ImageFormat format);

// Resize to grid.rows*patch x grid.cols*patch with PIL's BILINEAR filter
// (the RADIO image processor's default resample: a triangle filter, widened
// when downscaling so every input pixel contributes; plain bilinear with
// half-pixel centres when upscaling), in float, scaled to [0, 1] and cut into
// patches [grid.patches(), 3*patch*patch], each channel-major (channel, row,
// column).
std::vector<float> resize_to_patches(const RgbImage& image, const PatchGrid& grid, int patch);

std::vector<std::uint8_t> encode_jpeg(const RgbImage& image, int quality = 90);
std::vector<std::uint8_t> encode_png(const RgbImage& image);

}  // namespace hetero
