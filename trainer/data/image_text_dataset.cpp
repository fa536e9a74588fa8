#include "data/image_text_dataset.h"

#include <iostream>

#include <nlohmann/json.hpp>

#include "data/image_codec.h"
#include "data/shuffle.h"

namespace hetero {

ImageTextDataset::ImageTextDataset(ImageTextSourceConfig config)
    : config_(std::move(config)), shards_(config_.dir, config_.split) {}

std::string ImageTextDataset::describe() const {
  return "image-text shards " + config_.dir + " (split " + config_.split + ", " + std::to_string(shards_.size()) +
         " samples in " + std::to_string(shards_.shards().size()) + " shards" + (config_.packing ? ", packed" : "") +
         ")";
}

ImageTextDataset::Parsed ImageTextDataset::parse(std::uint64_t g) const {
  Parsed p;
  p.raw = shards_.sample(g);
  const std::string where = p.raw.shard + ": sample '" + p.raw.key + "' (byte " + std::to_string(p.raw.offset) + ")";
  const TarMember* json = nullptr;
  for (const TarMember& m : p.raw.members) {
    const size_t dot = m.extension.rfind('.');
    const std::string last = dot == std::string::npos ? m.extension : m.extension.substr(dot + 1);
    ImageFormat f;
    if (last == "json") json = &m;
    else if (image_format_of_extension(last, &f)) p.image_members.push_back(&m);
  }
  if (!json) throw DataError(where + ": has no json member with its tokens; add KEY.json to the shard");
  std::vector<std::int64_t> text;
  std::vector<float> mask;
  try {
    const auto j = nlohmann::json::parse(p.raw.tar + json->offset, p.raw.tar + json->offset + json->size);
    text = j.at("tokens").get<std::vector<std::int64_t>>();
    if (j.contains("loss_mask")) mask = j.at("loss_mask").get<std::vector<float>>();
  } catch (const std::exception& e) {
    throw DataError(where + ": its json member is not {\"tokens\": [...], \"loss_mask\": [...]} (" + e.what() +
                    "); rewrite the sample");
  }
  if (!mask.empty() && mask.size() != text.size())
    throw DataError(where + ": loss_mask has " + std::to_string(mask.size()) + " values for " +
                    std::to_string(text.size()) + " tokens; give one per token or leave it out");
  size_t placeholders = 0;
  for (std::int64_t t : text) {
    placeholders += t == config_.image_token_id;
    if (t < 0 || t >= config_.vocab_size)
      throw DataError(where + ": token id " + std::to_string(t) + " is outside the vocabulary [0, " +
                      std::to_string(config_.vocab_size) + "); tokenize with the model's tokenizer");
  }
  if (placeholders != p.image_members.size())
    throw DataError(where + ": " + std::to_string(placeholders) + " image placeholders (data.image_token_id=" +
                    std::to_string(config_.image_token_id) + ") but " + std::to_string(p.image_members.size()) +
                    " images; put one placeholder per image in the tokens");
  for (const TarMember* m : p.image_members) {
    ImageMeta meta;
    ImageFormat f;
    const size_t dot = m->extension.rfind('.');
    image_format_of_extension(dot == std::string::npos ? m->extension : m->extension.substr(dot + 1), &f);
    try {
      image_size(p.raw.tar + m->offset, m->size, f, &meta.height_px, &meta.width_px);
    } catch (const std::exception& e) {
      throw DataError(where + ": image member ." + m->extension + ": " + e.what() + "; replace the image");
    }
    meta.grid = choose_patch_grid(meta.height_px, meta.width_px, config_.patch_size, config_.min_patches,
                                  config_.max_patches);
    p.images.push_back(meta);
  }
  size_t next_image = 0;
  for (size_t k = 0; k < text.size(); ++k) {
    if (text[k] == config_.image_token_id) {
      p.tokens.insert(p.tokens.end(), p.images[next_image++].rows(), config_.image_token_id);
      p.token_mask.insert(p.token_mask.end(), p.images[next_image - 1].rows(), 0.f);
    } else {
      p.tokens.push_back(text[k]);
      p.token_mask.push_back(mask.empty() ? 1.f : mask[k]);
    }
  }
  const auto limit = static_cast<size_t>(config_.seq_length) + 1;
  if (p.tokens.size() > limit)
    throw DataError(where + ": " + std::to_string(p.tokens.size()) +
                    " tokens with its image rows, more than seq_length + 1 = " + std::to_string(limit) +
                    "; shorten the text, use smaller images (model.encoder.max_patches) or set "
                    "data.skip_bad_samples: true");
  return p;
}

std::int64_t ImageTextDataset::length_of(std::uint64_t g) const {
  try {
    const std::int64_t n = static_cast<std::int64_t>(parse(g).tokens.size());
    if (n == 0) throw DataError(config_.dir + ": shard-order sample " + std::to_string(g) + " holds no tokens");
    return n;
  } catch (const DataError& e) {
    if (!config_.skip_bad_samples) throw;
    std::cerr << "data: leaving out a bad sample (data.skip_bad_samples): " << e.what() << std::endl;
    ++left_out_;
    return -1;
  }
}

std::shared_ptr<const ImageTextDataset::PackedEpoch> ImageTextDataset::packed_epoch(std::uint64_t e) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto it = epochs_.find(e); it != epochs_.end()) return it->second;
  if (lengths_.empty()) {
    std::vector<std::int64_t> lengths(shards_.size());  // kept only once every sample was read
    for (std::uint64_t g = 0; g < shards_.size(); ++g) lengths[g] = length_of(g);
    lengths_ = std::move(lengths);
  }
  auto ep = std::make_shared<PackedEpoch>();
  for (std::uint64_t g : seeded_permutation(mix(config_.seed, 0x1e0c0000ull + e), shards_.size()))
    if (lengths_[g] > 0) ep->order.push_back(g);
  const std::int64_t limit = config_.seq_length + 1;
  std::int64_t used = 0;
  for (std::uint64_t pos = 0; pos < ep->order.size(); ++pos) {
    const std::int64_t len = lengths_[ep->order[pos]];
    if (pos == 0 || used + len > limit) {
      ep->row_first.push_back(pos);
      used = 0;
    }
    used += len;
  }
  ep->row_first.push_back(ep->order.size());
  if (ep->order.empty()) throw DataError(config_.dir + ": every sample is bad; nothing to train on");
  if (epochs_.size() >= 4) epochs_.erase(epochs_.begin());
  epochs_[e] = ep;
  if (rows_per_epoch_.size() <= e) rows_per_epoch_.resize(e + 1, 0);
  rows_per_epoch_[e] = ep->row_first.size() - 1;
  return ep;
}

std::uint64_t ImageTextDataset::epoch_size() const {
  return config_.packing ? packed_epoch(0)->row_first.size() - 1 : shards_.size();
}

std::vector<std::uint64_t> ImageTextDataset::row(std::uint64_t index) const {
  if (!config_.packing) {
    const std::uint64_t n = shards_.size(), e = index / n;
    std::shared_ptr<const std::vector<std::uint64_t>> order;
    {
      // The order of an epoch, kept like the packed epochs.
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = epochs_.find(e);
      if (it == epochs_.end()) {
        auto ep = std::make_shared<PackedEpoch>();
        ep->order = seeded_permutation(mix(config_.seed, 0x1e0c0000ull + e), n);
        if (epochs_.size() >= 4) epochs_.erase(epochs_.begin());
        it = epochs_.emplace(e, ep).first;
      }
      return {it->second->order[index % n]};
    }
  }
  // Packed: epochs hold different row counts, so walk them from the first.
  std::uint64_t e = 0, first = 0;
  for (;;) {
    std::uint64_t rows = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (e < rows_per_epoch_.size()) rows = rows_per_epoch_[e];
    }
    if (rows == 0) rows = packed_epoch(e)->row_first.size() - 1;
    if (index < first + rows) {
      const auto ep = packed_epoch(e);
      const std::uint64_t r = index - first;
      return {ep->order.begin() + static_cast<std::ptrdiff_t>(ep->row_first[r]),
              ep->order.begin() + static_cast<std::ptrdiff_t>(ep->row_first[r + 1])};
    }
    first += rows;
    ++e;
  }
}

Sample ImageTextDataset::sample(std::uint64_t index) const {
  Sample s;
  s.starts.clear();
  const int seq = config_.seq_length;
  std::vector<float> token_mask;
  for (std::uint64_t g : row(index)) {
    Parsed p = parse(g);
    s.starts.push_back(static_cast<int>(s.tokens.size()));
    s.tokens.insert(s.tokens.end(), p.tokens.begin(), p.tokens.end());
    token_mask.insert(token_mask.end(), p.token_mask.begin(), p.token_mask.end());
    s.images.insert(s.images.end(), p.images.begin(), p.images.end());
  }
  token_mask.resize(seq + 1, 0.f);
  s.tokens.resize(seq + 1, config_.pad_token_id);
  s.loss_mask.assign(token_mask.begin() + 1, token_mask.end());
  return s;
}

ImagePixels ImageTextDataset::image(std::uint64_t index, int image) const {
  for (std::uint64_t g : row(index)) {
    Parsed p = parse(g);
    if (image >= static_cast<int>(p.images.size())) {
      image -= static_cast<int>(p.images.size());
      continue;
    }
    const TarMember* m = p.image_members[image];
    ImageFormat f;
    const size_t dot = m->extension.rfind('.');
    image_format_of_extension(dot == std::string::npos ? m->extension : m->extension.substr(dot + 1), &f);
    RgbImage rgb;
    try {
      rgb = decode_image(p.raw.tar + m->offset, m->size, f);
    } catch (const std::exception& e) {
      throw DataError(p.raw.shard + ": sample '" + p.raw.key + "' (byte " + std::to_string(p.raw.offset) +
                      "): image member ." + m->extension + ": " + e.what() +
                      "; replace the image, or set data.skip_bad_samples: true");
    }
    return {p.images[image], resize_to_patches(rgb, p.images[image].grid, config_.patch_size)};
  }
  throw std::out_of_range(config_.dir + ": row " + std::to_string(index) + " has no image " + std::to_string(image));
}

}  // namespace hetero
