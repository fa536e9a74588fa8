#include "model/encoder.h"

#include <stdexcept>

namespace hetero {

VisionEncoder::VisionEncoder(const EncoderArch& arch, int llm_hidden, std::uint64_t seed, const Group& tp,
                             at::Device device, at::ScalarType compute)
    : arch_(arch), device_(device), compute_(compute), params_(seed, tp.rank, tp.size(), device) {
  const int patch_dim = arch.channels * arch.patch_size * arch.patch_size;
  patch_embed_ = params_.add("encoder.patch_embed.weight", {arch.hidden_size, patch_dim}, -1, Init::Normal);
  pos_row_ = params_.add("encoder.pos_embed.rows", {arch.max_grid_side, arch.hidden_size}, -1, Init::Normal);
  pos_col_ = params_.add("encoder.pos_embed.cols", {arch.max_grid_side, arch.hidden_size}, -1, Init::Normal);
  blocks_.reserve(arch.num_layers);
  for (int i = 0; i < arch.num_layers; ++i)
    blocks_.emplace_back(params_, "encoder.blocks." + std::to_string(i), arch.hidden_size, arch.num_attention_heads,
                         arch.ffn_hidden_size, tp, compute);
  final_norm_ = params_.add("encoder.final_norm.weight", {arch.hidden_size}, -1, Init::Ones);
  proj_fc1_ = params_.add("projector.fc1.weight", {llm_hidden, arch.hidden_size}, -1, Init::Normal);
  proj_fc2_ = params_.add("projector.fc2.weight", {llm_hidden, llm_hidden}, -1, Init::Normal);
}

at::Tensor VisionEncoder::forward(const PackedImages& images) const {
  std::vector<int64_t> rows, cols, image_of;
  for (int i = 0; i < images.num_images(); ++i) {
    if (images.grid_h[i] > arch_.max_grid_side || images.grid_w[i] > arch_.max_grid_side)
      throw std::invalid_argument("image grid " + std::to_string(images.grid_h[i]) + "x" +
                                  std::to_string(images.grid_w[i]) + " exceeds model.encoder.max_grid_side=" +
                                  std::to_string(arch_.max_grid_side));
    for (int r = 0; r < images.grid_h[i]; ++r)
      for (int c = 0; c < images.grid_w[i]; ++c) {
        rows.push_back(r);
        cols.push_back(c);
        image_of.push_back(i);
      }
  }
  auto index = [&](const std::vector<int64_t>& v) { return at::tensor(v, at::kLong).to(device_); };
  const at::Tensor img = index(image_of);
  const at::Tensor allowed = img.unsqueeze(0).eq(img.unsqueeze(1)).unsqueeze(0);  // [1, T, T] block-diagonal
  auto c = [&](const at::Tensor& t) { return t.to(compute_); };
  at::Tensor x = at::matmul(c(images.patches), c(patch_embed_).t()).to(at::kFloat) +
                 pos_row_.index_select(0, index(rows)) + pos_col_.index_select(0, index(cols));
  x = x.unsqueeze(0);
  for (const auto& block : blocks_) x = block.forward(x, allowed);
  x = rms_norm(x, final_norm_).squeeze(0);
  return at::matmul(at::gelu(at::matmul(c(x), c(proj_fc1_).t())), c(proj_fc2_).t()).to(at::kFloat);
}

}  // namespace hetero
