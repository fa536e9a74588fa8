// Image-text samples from Energon-style shards (webdataset.h). A sample's
// `json` member holds the pre-tokenized text, {"tokens": [...],
// "loss_mask": [...]} (loss mask optional, one 0/1 per token: by default
// every text token counts and no placeholder does), with one
// data.image_token_id per image member (jpg, jpeg, png), in member order.
// Each placeholder expands to the image's embedding rows (embeddings_for of
// its grid). Samples follow a fresh seeded order each epoch.
//
// Unpacked, a row is one sample padded with data.pad_token_id (no loss on
// padding). Packed (data.packing), a row holds consecutive samples of the
// epoch order, as many as fit in seq_length + 1 tokens, each starting a new
// entry of Sample::starts; a sample is never split, so neither is an image.
#pragma once

#include <map>
#include <memory>
#include <mutex>

#include "data/dataset.h"
#include "data/webdataset.h"

namespace hetero {

struct ImageTextSourceConfig {
  std::string dir;
  std::string split = "train";
  int seq_length = 0;
  std::uint64_t seed = 0;
  std::int64_t vocab_size = 0;
  std::int64_t image_token_id = 0;
  std::int64_t pad_token_id = 0;
  bool packing = false;
  bool skip_bad_samples = false;  // packing: a bad sample is left out of the rows (and counted)
  int patch_size = 16, min_patches = 4, max_patches = 4;
};

class ImageTextDataset : public Dataset {
 public:
  explicit ImageTextDataset(ImageTextSourceConfig config);
  Sample sample(std::uint64_t index) const override;
  ImagePixels image(std::uint64_t index, int image) const override;
  std::uint64_t epoch_size() const override;
  std::string describe() const override;

  const ShardSet& shards() const { return shards_; }
  // One shard sample, tokens expanded, unpadded; with its images' members.
  struct Parsed {
    ShardSample raw;
    std::vector<std::int64_t> tokens;
    std::vector<float> token_mask;  // per token: whether it counts as a label
    std::vector<ImageMeta> images;
    std::vector<const TarMember*> image_members;
  };
  Parsed parse(std::uint64_t g) const;  // g: index in shard order
  // Samples left out of packed rows as bad so far.
  std::uint64_t left_out() const { return left_out_; }

 private:
  // The shard-order samples of row `index`.
  std::vector<std::uint64_t> row(std::uint64_t index) const;
  struct PackedEpoch {
    std::vector<std::uint64_t> order;     // shard-order sample per epoch position
    std::vector<std::uint64_t> row_first; // first position of each row; then the end
  };
  std::shared_ptr<const PackedEpoch> packed_epoch(std::uint64_t e) const;
  std::int64_t length_of(std::uint64_t g) const;  // expanded tokens; -1: bad and skipped

  ImageTextSourceConfig config_;
  ShardSet shards_;
  mutable std::mutex mutex_;
  mutable std::map<std::uint64_t, std::shared_ptr<const PackedEpoch>> epochs_;
  mutable std::vector<std::uint64_t> rows_per_epoch_;  // packing: rows of each epoch built so far
  mutable std::vector<std::int64_t> lengths_;  // packing: per shard-order sample, computed once
  mutable std::uint64_t left_out_ = 0;
};

}  // namespace hetero
