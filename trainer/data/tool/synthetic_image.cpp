#include "synthetic_image.h"

#include <algorithm>
#include <cmath>

#include "hetero/rng.h"

namespace hetero::data_tool {

RgbImage synthetic_image(int height, int width, std::uint64_t key) {
  const CounterRng rng(key);
  RgbImage img{height, width, std::vector<std::uint8_t>(static_cast<size_t>(height) * width * 3)};
  const double fx = 2 + 6 * rng.uniform(0), fy = 2 + 6 * rng.uniform(1), ph = 6.28 * rng.uniform(2);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c) {
        const double v = 127.5 + 90 * std::sin(fx * x / width * 6.28 + ph + c) * std::cos(fy * y / height * 6.28 - c) +
                         20 * (rng.uniform(7 + (static_cast<std::uint64_t>(y) * width + x) * 3 + c) - 0.5);
        img.rgb[(static_cast<size_t>(y) * width + x) * 3 + c] = static_cast<std::uint8_t>(std::clamp(v, 0.0, 255.0));
      }
  return img;
}

}  // namespace hetero::data_tool
