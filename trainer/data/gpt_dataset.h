// Text samples as Megatron's GPT dataset builds them from an indexed
// dataset: each epoch puts the documents in a fresh seeded order, the epochs
// follow each other as one token stream, and sample k is the window of
// seq_length + 1 tokens starting at token k * seq_length (consecutive
// windows share one token: the last label of one is the first input of the
// next). Every document is read exactly once per epoch; no token is dropped.
// Documents end with their end-of-document token as preprocess_data.py
// --append-eod writes them; the reader adds none.
#pragma once

#include <map>
#include <memory>
#include <mutex>

#include "data/dataset.h"
#include "data/indexed_dataset.h"

namespace hetero {

struct TextSourceConfig {
  std::string prefix;
  int seq_length = 0;
  std::uint64_t seed = 0;          // of this source (the data seed mixed with its place in the blend)
  std::int64_t vocab_size = 0;     // tokens must lie in [0, vocab_size)
  std::int64_t image_token_id = -1;  // must not occur in text (it would take image rows)
};

class GptDataset : public Dataset {
 public:
  explicit GptDataset(TextSourceConfig config);
  Sample sample(std::uint64_t index) const override;
  ImagePixels image(std::uint64_t index, int image) const override;
  std::uint64_t epoch_size() const override;
  std::string describe() const override;
  const IndexedDataset& indexed() const { return data_; }
  // The document order of an epoch (for tests and `hetero-data inspect`).
  std::vector<std::uint64_t> epoch_order(std::uint64_t epoch) const;

 private:
  struct Epoch {
    std::vector<std::uint64_t> order;  // documents
    std::vector<std::int64_t> start;   // token offset of order[i] in the epoch; then the epoch's length
  };
  std::shared_ptr<const Epoch> epoch(std::uint64_t e) const;

  TextSourceConfig config_;
  IndexedDataset data_;
  mutable std::mutex mutex_;
  mutable std::map<std::uint64_t, std::shared_ptr<const Epoch>> epochs_;  // the few in use
};

}  // namespace hetero
