#include "hetero/dynamic_resolution.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace hetero {
namespace {
// Nearest even integer >= 2.
int even_at_least_2(double v) { return std::max(2, 2 * static_cast<int>(std::lround(v / 2.0))); }
}  // namespace

PatchGrid choose_patch_grid(int height, int width, int patch, int min_patches, int max_patches) {
  if (height < 1 || width < 1 || patch < 1)
    throw std::invalid_argument("image " + std::to_string(height) + "x" + std::to_string(width) + " px with patch " +
                                std::to_string(patch) + ": sizes must be positive");
  if (min_patches < 4 || max_patches < min_patches)
    throw std::invalid_argument("patch budget [" + std::to_string(min_patches) + ", " + std::to_string(max_patches) +
                                "] must satisfy 4 <= min <= max");
  // Scale so the patch count lands inside the budget, keeping the aspect ratio.
  const double natural = (static_cast<double>(height) / patch) * (static_cast<double>(width) / patch);
  double scale = 1.0;
  if (natural > max_patches) scale = std::sqrt(max_patches / natural);
  if (natural < min_patches) scale = std::sqrt(min_patches / natural);
  PatchGrid g{even_at_least_2(height * scale / patch), even_at_least_2(width * scale / patch)};
  // Rounding to even sides can step outside the budget: walk back along the
  // side that distorts the aspect ratio least.
  const double aspect = static_cast<double>(height) / width;
  auto distortion = [&](int r, int c) { return std::fabs(std::log((static_cast<double>(r) / c) / aspect)); };
  while (g.patches() > max_patches && (g.rows > 2 || g.cols > 2)) {
    const bool shrink_rows = g.cols <= 2 || (g.rows > 2 && distortion(g.rows - 2, g.cols) <= distortion(g.rows, g.cols - 2));
    (shrink_rows ? g.rows : g.cols) -= 2;
  }
  while (g.patches() < min_patches) {
    const int grow_rows = (g.rows + 2) * g.cols, grow_cols = g.rows * (g.cols + 2);
    const bool rows_fit = grow_rows <= max_patches, cols_fit = grow_cols <= max_patches;
    if (!rows_fit && !cols_fit) break;  // no even grid fits: stay just below min
    const bool grow_r = rows_fit && (!cols_fit || distortion(g.rows + 2, g.cols) <= distortion(g.rows, g.cols + 2));
    (grow_r ? g.rows : g.cols) += 2;
  }
  return g;
}

}  // namespace hetero
