#include "data/make_dataset.h"

#include <filesystem>

#include "data/blended_dataset.h"
#include "data/gpt_dataset.h"
#include "data/image_text_dataset.h"
#include "data/mock_dataset.h"
#include "hetero/rng.h"

namespace fs = std::filesystem;

namespace hetero {

SourceKind source_kind(const std::string& path) {
  if (fs::exists(path + ".bin") || fs::exists(path + ".idx")) return SourceKind::IndexedText;
  if (fs::is_directory(path + "/.nv-meta")) return SourceKind::ImageTextShards;
  throw DataError(path + ": neither a Megatron indexed dataset (" + path + ".bin + " + path +
                  ".idx) nor an Energon shard folder (" + path +
                  "/.nv-meta/); give data.blend the prefix of a preprocessed text dataset or a prepared shard folder");
}

std::unique_ptr<Dataset> open_source(const Recipe& r, const std::string& path, int ordinal) {
  const DataConfig& d = r.data;
  const std::uint64_t seed = mix(d.seed, 0x50c0000ull + static_cast<std::uint64_t>(ordinal));
  if (source_kind(path) == SourceKind::IndexedText)
    return std::make_unique<GptDataset>(TextSourceConfig{path, r.llm.seq_length, seed, r.llm.vocab_size,
                                                         d.image_token_id});
  ImageTextSourceConfig c;
  c.dir = path;
  c.split = d.split;
  c.seq_length = r.llm.seq_length;
  c.seed = seed;
  c.vocab_size = r.llm.vocab_size;
  c.image_token_id = d.image_token_id;
  c.pad_token_id = d.pad_token_id;
  c.packing = d.packing;
  c.skip_bad_samples = d.skip_bad_samples;
  c.patch_size = r.encoder.patch_size;
  c.min_patches = r.encoder.min_patches;
  c.max_patches = r.encoder.max_patches;
  return std::make_unique<ImageTextDataset>(c);
}

std::unique_ptr<Dataset> make_dataset(const Recipe& r) {
  if (r.data.blend.empty()) return std::make_unique<MockDataset>(r.data, r.llm, r.encoder);
  const int patch_dim = r.encoder.channels * r.encoder.patch_size * r.encoder.patch_size;
  std::vector<std::unique_ptr<Dataset>> sources;
  std::vector<double> weights;
  for (size_t i = 0; i < r.data.blend.size(); ++i) {
    sources.push_back(std::make_unique<SkippingDataset>(open_source(r, r.data.blend[i].path, static_cast<int>(i)),
                                                        r.data.skip_bad_samples, patch_dim));
    weights.push_back(r.data.blend[i].weight);
  }
  return std::make_unique<BlendedDataset>(std::move(sources), std::move(weights));
}

}  // namespace hetero
