// Dynamic resolution (design §6): an image keeps its aspect ratio and is
// resized to the patch grid that fits [min_patches, max_patches]. The data
// side (placeholder counts) and the encoder (resizing) both ask this one
// function, so they cannot disagree.
#pragma once

namespace hetero {

struct PatchGrid {
  int rows = 0, cols = 0;  // in patches
  int patches() const { return rows * cols; }
};

// The grid for an image of `height` x `width` pixels with square patches of
// `patch` pixels. Both sides are even (2x2 pixel shuffle follows), at least
// 2, and rows*cols lies in [min_patches, max_patches] whenever the budget
// allows an even grid of the image's aspect ratio; the aspect ratio is kept
// as closely as whole even patch counts allow.
PatchGrid choose_patch_grid(int height, int width, int patch, int min_patches, int max_patches);

// Rows the encoder outputs for a grid after the 2x2 pixel shuffle.
inline int embeddings_for(const PatchGrid& g) { return (g.rows / 2) * (g.cols / 2); }

}  // namespace hetero
