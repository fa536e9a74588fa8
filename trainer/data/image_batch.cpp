#include "data/image_batch.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "dist/device_copy.h"

namespace hetero {

int64_t ImageBatch::embedding_rows() const {
  int64_t rows = 0;
  for (const PatchGrid& g : grids) rows += embeddings_for(g);
  return rows;
}

ImageBatch make_image_batch(const std::vector<ImagePixels>& images, int patch_dim, at::Device device) {
  ImageBatch b;
  for (const ImagePixels& img : images) {
    b.grids.push_back(img.meta.grid);
    b.cu_seqlens.push_back(b.cu_seqlens.back() + img.meta.grid.patches());
  }
  // Pinned and copied without blocking, as make_text_batch's tensors.
  at::Tensor pixels = host_staging({b.num_patches(), patch_dim}, at::kFloat, device);
  float* dst = pixels.data_ptr<float>();
  for (const ImagePixels& img : images) {
    const PatchGrid& g = img.meta.grid;
    if (img.patches.size() != static_cast<size_t>(g.patches()) * patch_dim)
      throw std::invalid_argument("image of grid " + std::to_string(g.rows) + "x" + std::to_string(g.cols) +
                                  " holds " + std::to_string(img.patches.size()) + " values, expected grid x patch_dim " +
                                  std::to_string(patch_dim));
    dst = std::copy(img.patches.begin(), img.patches.end(), dst);
  }
  b.pixels = copy_to_device(pixels, device);
  return b;
}

ImageBatch empty_image_batch(const std::vector<ImageMeta>& images, int patch_dim, at::Device device) {
  ImageBatch b;
  for (const ImageMeta& img : images) {
    b.grids.push_back(img.grid);
    b.cu_seqlens.push_back(b.cu_seqlens.back() + img.grid.patches());
  }
  b.pixels = at::empty({b.num_patches(), patch_dim}, at::TensorOptions().dtype(at::kFloat).device(device));
  return b;
}

LaneMerge merge_lanes(const std::vector<ImageBatch>& lanes) {
  LaneMerge m;
  std::vector<at::Tensor> pixels;
  for (const ImageBatch& lane : lanes) {
    const int64_t offset = m.batch.num_patches();
    for (int i = 0; i < lane.num_images(); ++i) {
      m.batch.grids.push_back(lane.grids[i]);
      m.batch.cu_seqlens.push_back(offset + lane.cu_seqlens[i + 1]);
    }
    if (lane.num_patches() > 0) pixels.push_back(lane.pixels);
    m.images_per_lane.push_back(lane.num_images());
    m.rows_per_lane.push_back(lane.embedding_rows());
  }
  if (!pixels.empty()) {
    m.batch.pixels = at::cat(pixels, /*dim=*/0);  // patches are the token axis
  } else if (!lanes.empty()) {
    m.batch.pixels = lanes.front().pixels;  // no images: keep the (empty) shape and device
  }
  return m;
}

std::vector<at::Tensor> split_rows_per_lane(const at::Tensor& rows, const LaneMerge& merge) {
  int64_t total = 0;
  for (int64_t r : merge.rows_per_lane) total += r;
  if (rows.size(0) != total)
    throw std::logic_error("encoder output has " + std::to_string(rows.size(0)) + " rows, the merged lanes expect " +
                           std::to_string(total));
  std::vector<at::Tensor> out;
  int64_t offset = 0;
  for (int64_t r : merge.rows_per_lane) {
    out.push_back(rows.narrow(0, offset, r));
    offset += r;
  }
  return out;
}

}  // namespace hetero
