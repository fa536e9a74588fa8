#include "model/radio_encoder.h"

#include <stdexcept>
#include <string>

#include "hetero/split_rules.h"
#include "dist/device_copy.h"
#include "model/radio_ops.h"

namespace hetero {

RadioEncoder::RadioEncoder(const EncoderArch& arch, int llm_hidden, std::uint64_t seed, const Group& tp,
                           at::Device device, at::ScalarType compute)
    : arch_(arch),
      device_(device),
      compute_(compute),
      weights_(compute),
      attention_kernel_(default_attention_kernel(device)),
      params_(seed, tp.rank, tp.size(), device) {
  require_divisibility(encoder_divisibility(arch, tp.size(), "encoder"));
  const int patch_dim = arch.channels * arch.patch_size * arch.patch_size;
  const int side = arch.position_table_side, hidden = arch.hidden_size;
  patch_embed_ = params_.add("encoder.patch_embed.weight", {hidden, patch_dim}, -1, Init::Normal);
  pos_embed_ = params_.add("encoder.pos_embed", {side, side, hidden}, -1, Init::Normal);
  const int summary = arch.num_cls_tokens + arch.num_registers;
  if (summary > 0) summary_tokens_ = params_.add("encoder.summary_tokens", {summary, hidden}, -1, Init::Normal);
  blocks_.reserve(arch.num_layers);
  for (int i = 0; i < arch.num_layers; ++i)
    blocks_.emplace_back(params_, "encoder.blocks." + std::to_string(i), arch, tp, compute);
  if (arch.final_norm) final_norm_ = add_norm(params_, "encoder.final_norm", hidden, arch);
  proj_norm_ = params_.add("projector.norm.weight", {4 * hidden}, -1, Init::Ones);
  proj_fc1_ = params_.add("projector.fc1.weight", {llm_hidden, 4 * hidden}, -1, Init::Normal);
  proj_fc2_ = params_.add("projector.fc2.weight", {llm_hidden, llm_hidden}, -1, Init::Normal);
  for (Param& p : params_.params())
    if (p.name == "encoder.pos_embed" || p.name == "encoder.summary_tokens") p.decay = false;
  if (!arch.pixel_mean.empty()) {
    // Per channel, repeated over the patch's pixels (channel-major vectors).
    auto per_value = [&](const std::vector<double>& v) {
      return at::tensor(v, at::kDouble).to(at::kFloat).repeat_interleave(arch.patch_size * arch.patch_size).to(device);
    };
    pixel_mean_ = per_value(arch.pixel_mean);
    pixel_std_ = per_value(arch.pixel_std);
  }
}

at::Tensor RadioEncoder::features(const ImageBatch& images) const {
  const int64_t summary = arch_.num_cls_tokens + arch_.num_registers;
  auto index = [&](const std::vector<int64_t>& v) { return copy_to_device(at::tensor(v, at::kLong), device_); };
  const bool square_crop = arch_.position_interpolation == "square_crop";

  // Patches with their interpolated positions, image after image.
  std::vector<at::Tensor> positions;
  for (const PatchGrid& g : images.grids) {
    if (g.rows < 1 || g.cols < 1)
      throw std::invalid_argument("image grid " + std::to_string(g.rows) + "x" + std::to_string(g.cols) +
                                  " has no patches");
    const at::Tensor grid = square_crop ? square_crop_position_table(pos_embed_, g.rows, g.cols)
                                        : interpolate_position_table(pos_embed_, g.rows, g.cols);
    positions.push_back(grid.reshape({-1, pos_embed_.size(2)}));
  }
  // The input conditioner, in fp32 as RADIO's.
  const at::Tensor pixels = pixel_mean_.defined() ? (images.pixels.to(at::kFloat) - pixel_mean_) / pixel_std_
                                                  : images.pixels;
  const at::Tensor patches =
      weights_.linear(pixels.to(compute_), patch_embed_).to(at::kFloat) + at::cat(positions, 0);

  // The packed sequence: per image, its summary tokens then its patches.
  // `source` picks rows of [summary tokens; patches]; `offsets` delimit the
  // images, within which attention stays.
  std::vector<int64_t> source, patch_slot, offsets{0};
  for (int i = 0; i < images.num_images(); ++i) {
    for (int64_t k = 0; k < summary; ++k) source.push_back(k);
    for (int64_t p = images.cu_seqlens[i]; p < images.cu_seqlens[i + 1]; ++p) {
      patch_slot.push_back(static_cast<int64_t>(source.size()));
      source.push_back(summary + p);
    }
    offsets.push_back(static_cast<int64_t>(source.size()));
  }
  const at::Tensor rows = summary > 0 ? at::cat({summary_tokens_, patches}, 0) : patches;
  // The blocks run in the compute dtype, the final norm in fp32.
  at::Tensor x = rows.index_select(0, index(source)).to(compute_);  // [tokens, hidden]
  const PackedImages packed(offsets, device_);
  TransformerBlock::Residual stream{x, at::Tensor()};
  for (const auto& block : blocks_) stream = block.forward(stream, packed, attention_kernel_);
  x = stream.sum();
  x = x.to(at::kFloat);
  if (final_norm_.weight.defined()) x = final_norm_(x);  // the final norm runs over every token
  return x.index_select(0, index(patch_slot));  // summary tokens dropped
}

at::Tensor RadioEncoder::forward(const ImageBatch& images) const {
  for (const PatchGrid& g : images.grids)
    if (g.rows < 2 || g.cols < 2 || g.rows % 2 || g.cols % 2)
      throw std::invalid_argument("image grid " + std::to_string(g.rows) + "x" + std::to_string(g.cols) +
                                  " must have even sides of at least 2 (the 2x2 pixel shuffle follows)");
  const at::Tensor x = features(images);
  std::vector<at::Tensor> shuffled;
  for (int i = 0; i < images.num_images(); ++i) {
    const PatchGrid& g = images.grids[i];
    shuffled.push_back(pixel_shuffle_2x2(x.narrow(0, images.cu_seqlens[i], g.patches()), g.rows, g.cols));
  }
  const at::Tensor y = rms_norm(at::cat(shuffled, 0), proj_norm_);
  const at::Tensor h = at::gelu(weights_.linear(y.to(compute_), proj_fc1_));
  return weights_.linear(h, proj_fc2_).to(at::kFloat);
}

}  // namespace hetero
