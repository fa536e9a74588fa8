#include "data/mock_data.h"

#include <algorithm>

#include "hetero/dynamic_resolution.h"
#include "hetero/rng.h"

namespace hetero {

int embedding_rows(const MockImage& image) { return embeddings_for(PatchGrid{image.grid_h, image.grid_w}); }

MockSample make_mock_sample(const DataConfig& data, const LlmArch& llm, const EncoderArch& enc,
                            std::uint64_t global_index, Pixels pixels) {
  const CounterRng rng(mix(data.seed, global_index));
  std::uint64_t draw = 0;
  MockSample s;
  const int seq = llm.seq_length;
  const int patch_dim = enc.channels * enc.patch_size * enc.patch_size;

  // Images: none for text-only samples, else 1..max; image rows use at most
  // half the sequence so text always remains.
  int n_images = 0;
  if (data.max_images_per_sample > 0 && rng.uniform(draw++) >= data.text_only_fraction)
    n_images = rng.uniform_int(draw++, 1, data.max_images_per_sample);
  std::vector<int> rows;
  int total_rows = 0;
  for (int i = 0; i < n_images; ++i) {
    MockImage img;
    img.height_px = rng.uniform_int(draw++, data.image_min_px, data.image_max_px);
    img.width_px = rng.uniform_int(draw++, data.image_min_px, data.image_max_px);
    const PatchGrid grid = choose_patch_grid(img.height_px, img.width_px, enc.patch_size, enc.min_patches, enc.max_patches);
    img.grid_h = grid.rows;
    img.grid_w = grid.cols;
    const int r = embeddings_for(grid);
    if (total_rows + r > seq / 2) break;
    const CounterRng pix(mix(rng.bits(draw++), 0x1a));
    if (pixels == Pixels::Make) {
      // Uniform with unit variance: one hash per value keeps mock data far
      // cheaper than the encoder that consumes it.
      img.patches.resize(static_cast<size_t>(img.grid_h) * img.grid_w * patch_dim);
      for (size_t k = 0; k < img.patches.size(); ++k)
        img.patches[k] = static_cast<float>((2.0 * pix.uniform(k) - 1.0) * 1.7320508075688772);
    }
    total_rows += r;
    rows.push_back(r);
    s.images.push_back(std::move(img));
  }

  // Text: a learnable chain t' = 1 + (7*(t-1) + 3) mod (V-1) from a random
  // start, so the loss can fall; image blocks are spliced in between text
  // tokens, never at the very start or end.
  const int text_len = seq + 1 - total_rows;
  std::vector<std::int64_t> text(text_len);
  const int v = llm.vocab_size - 1;
  text[0] = 1 + rng.uniform_int(draw++, 0, v - 1);
  for (int t = 1; t < text_len; ++t) text[t] = 1 + (7 * (text[t - 1] - 1) + 3) % v;
  std::vector<int> cut(s.images.size());
  for (auto& c : cut) c = rng.uniform_int(draw++, 1, text_len - 1);
  std::sort(cut.begin(), cut.end());

  s.tokens.reserve(seq + 1);
  size_t next_image = 0;
  for (int t = 0; t < text_len; ++t) {
    while (next_image < cut.size() && cut[next_image] == t) {
      s.tokens.insert(s.tokens.end(), rows[next_image], kImagePlaceholder);
      ++next_image;
    }
    s.tokens.push_back(text[t]);
  }
  return s;
}

}  // namespace hetero
