#include "data/mock_dataset.h"

#include <algorithm>

#include "hetero/dynamic_resolution.h"
#include "hetero/rng.h"

namespace hetero {

Sample MockDataset::draw(std::uint64_t index, std::vector<std::uint64_t>* pixel_keys) const {
  const CounterRng rng(mix(data_.seed, index));
  std::uint64_t draw = 0;
  Sample s;
  const int seq = llm_.seq_length;

  // Images: none for text-only samples, else 1..max; image rows use at most
  // half the sequence so text always remains.
  int n_images = 0;
  if (data_.max_images_per_sample > 0 && rng.uniform(draw++) >= data_.text_only_fraction)
    n_images = rng.uniform_int(draw++, 1, data_.max_images_per_sample);
  int total_rows = 0;
  for (int i = 0; i < n_images; ++i) {
    ImageMeta img;
    img.height_px = rng.uniform_int(draw++, data_.image_min_px, data_.image_max_px);
    img.width_px = rng.uniform_int(draw++, data_.image_min_px, data_.image_max_px);
    img.grid = choose_patch_grid(img.height_px, img.width_px, enc_.patch_size, enc_.min_patches, enc_.max_patches);
    if (total_rows + img.rows() > seq / 2) break;
    const std::uint64_t key = mix(rng.bits(draw++), 0x1a);
    if (pixel_keys) pixel_keys->push_back(key);
    total_rows += img.rows();
    s.images.push_back(img);
  }

  // Text: a learnable chain t' = 1 + (7*(t-1) + 3) mod (V-1) from a random
  // start, so the loss can fall; image blocks are spliced in between text
  // tokens, never at the very start or end.
  const int text_len = seq + 1 - total_rows;
  std::vector<std::int64_t> text(text_len);
  const int v = llm_.vocab_size - 1;
  text[0] = 1 + rng.uniform_int(draw++, 0, v - 1);
  for (int t = 1; t < text_len; ++t) text[t] = 1 + (7 * (text[t - 1] - 1) + 3) % v;
  std::vector<int> cut(s.images.size());
  for (auto& c : cut) c = rng.uniform_int(draw++, 1, text_len - 1);
  std::sort(cut.begin(), cut.end());

  s.tokens.reserve(seq + 1);
  size_t next_image = 0;
  for (int t = 0; t < text_len; ++t) {
    while (next_image < cut.size() && cut[next_image] == t) {
      s.tokens.insert(s.tokens.end(), s.images[next_image].rows(), kImagePlaceholder);
      ++next_image;
    }
    s.tokens.push_back(text[t]);
  }
  s.loss_mask.resize(seq);
  for (int t = 0; t < seq; ++t) s.loss_mask[t] = s.tokens[t + 1] == kImagePlaceholder ? 0.f : 1.f;
  return s;
}

Sample MockDataset::sample(std::uint64_t index) const { return draw(index, nullptr); }

ImagePixels MockDataset::image(std::uint64_t index, int image) const {
  std::vector<std::uint64_t> keys;
  const Sample s = draw(index, &keys);
  if (image < 0 || image >= static_cast<int>(s.images.size()))
    throw std::out_of_range("mock sample " + std::to_string(index) + " has " + std::to_string(s.images.size()) +
                            " images, not image " + std::to_string(image));
  ImagePixels out{s.images[image], {}};
  // Uniform with unit variance: one hash per value keeps mock data far
  // cheaper than the encoder that consumes it.
  const CounterRng pix(keys[image]);
  const int patch_dim = enc_.channels * enc_.patch_size * enc_.patch_size;
  out.patches.resize(static_cast<size_t>(out.meta.grid.patches()) * patch_dim);
  for (size_t k = 0; k < out.patches.size(); ++k)
    out.patches[k] = static_cast<float>((2.0 * pix.uniform(k) - 1.0) * 1.7320508075688772);
  return out;
}

}  // namespace hetero
