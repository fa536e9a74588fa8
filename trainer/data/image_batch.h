// The images of one encoder forward, packed along the token axis (THD), and
// the merge of several lanes' images into one forward and the split of its
// output back per lane (routed batches, design §7).
//
// The merge follows the batch schema, never the tensors' shapes: pixels are
// concatenated along patches, grids along images, and cu_seqlens shifted by
// each lane's running patch offset. Two lanes with identical shapes merge
// exactly like two with different ones (seed 004 broke on that case).
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "data/sample.h"
#include "hetero/dynamic_resolution.h"

namespace hetero {

struct ImageBatch {
  at::Tensor pixels;             // [patches, patch_dim], image after image, row-major patch order
  std::vector<PatchGrid> grids;  // per image
  std::vector<int64_t> cu_seqlens{0};  // patch offsets: image i is [cu_seqlens[i], cu_seqlens[i+1])

  int num_images() const { return static_cast<int>(grids.size()); }
  int64_t num_patches() const { return cu_seqlens.back(); }
  // LLM rows the encoder outputs for these images (after the pixel shuffle).
  int64_t embedding_rows() const;
};

ImageBatch make_image_batch(const std::vector<ImagePixels>& images, int patch_dim, at::Device device);
// The same batch's schema with uninitialised pixels (to receive them).
ImageBatch empty_image_batch(const std::vector<ImageMeta>& images, int patch_dim, at::Device device);

// One forward's images gathered from several lanes, and where each lane's
// output rows lie in the forward's output.
struct LaneMerge {
  ImageBatch batch;
  std::vector<int> images_per_lane;
  std::vector<int64_t> rows_per_lane;  // embedding rows
};

LaneMerge merge_lanes(const std::vector<ImageBatch>& lanes);

// Splits the merged forward's output rows [sum rows_per_lane, hidden] back
// into one tensor per lane (views, in lane order).
std::vector<at::Tensor> split_rows_per_lane(const at::Tensor& rows, const LaneMerge& merge);

}  // namespace hetero
