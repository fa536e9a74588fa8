#include "data/gpt_dataset.h"

#include <algorithm>

#include "data/shuffle.h"

namespace hetero {

GptDataset::GptDataset(TextSourceConfig config) : config_(std::move(config)), data_(config_.prefix) {
  if (data_.total_tokens() == 0)
    throw DataError(config_.prefix + ".idx: the dataset holds no tokens; preprocess non-empty documents");
}

std::vector<std::uint64_t> GptDataset::epoch_order(std::uint64_t e) const { return epoch(e)->order; }

std::shared_ptr<const GptDataset::Epoch> GptDataset::epoch(std::uint64_t e) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto it = epochs_.find(e); it != epochs_.end()) return it->second;
  auto ep = std::make_shared<Epoch>();
  ep->order = seeded_permutation(mix(config_.seed, 0x9e0c0000ull + e), data_.num_documents());
  ep->start.reserve(ep->order.size() + 1);
  std::int64_t at = 0;
  for (std::uint64_t d : ep->order) {
    ep->start.push_back(at);
    at += data_.document_length(d);
  }
  ep->start.push_back(at);
  if (epochs_.size() >= 4) epochs_.erase(epochs_.begin());  // windows touch at most two neighbouring epochs
  epochs_[e] = ep;
  return ep;
}

std::uint64_t GptDataset::epoch_size() const {
  return static_cast<std::uint64_t>(data_.total_tokens() / config_.seq_length);
}

std::string GptDataset::describe() const {
  return "Megatron indexed text " + config_.prefix + " (" + std::to_string(data_.num_documents()) + " documents, " +
         std::to_string(data_.total_tokens()) + " tokens)";
}

Sample GptDataset::sample(std::uint64_t index) const {
  const int seq = config_.seq_length;
  const std::int64_t total = data_.total_tokens();
  Sample s;
  s.tokens.reserve(seq + 1);
  s.starts.clear();
  std::int64_t pos = static_cast<std::int64_t>(index) * seq;  // in the endless stream of epochs
  while (static_cast<int>(s.tokens.size()) < seq + 1) {
    const std::uint64_t e = static_cast<std::uint64_t>(pos / total);
    const std::int64_t within = pos % total;
    const auto ep = epoch(e);
    // The document holding token `within`: the last start <= within (empty documents skipped).
    const size_t i = static_cast<size_t>(std::upper_bound(ep->start.begin(), ep->start.end() - 1, within) -
                                         ep->start.begin()) - 1;
    const std::int64_t offset = within - ep->start[i];
    const std::uint64_t doc = ep->order[i];
    const std::int64_t take =
        std::min<std::int64_t>(data_.document_length(doc) - offset, seq + 1 - static_cast<std::int64_t>(s.tokens.size()));
    if (offset == 0 && static_cast<int>(s.tokens.size()) < seq) s.starts.push_back(static_cast<int>(s.tokens.size()));
    const size_t before = s.tokens.size();
    data_.read_document(doc, offset, take, s.tokens);
    for (size_t k = before; k < s.tokens.size(); ++k) {
      const std::int64_t t = s.tokens[k];
      if (t < 0 || t >= config_.vocab_size || t == config_.image_token_id)
        throw DataError(config_.prefix + ".bin: document " + std::to_string(doc) + " token offset " +
                        std::to_string(offset + static_cast<std::int64_t>(k - before)) + " holds id " +
                        std::to_string(t) +
                        (t == config_.image_token_id
                             ? ", the image placeholder (data.image_token_id), which text must not hold"
                             : ", outside the vocabulary [0, " + std::to_string(config_.vocab_size) + ")") +
                        "; tokenize the data with the model's tokenizer, or set data.skip_bad_samples: true");
    }
    pos += take;
  }
  if (s.starts.empty() || s.starts.front() != 0) s.starts.insert(s.starts.begin(), 0);
  s.loss_mask.assign(seq, 1.f);
  return s;
}

ImagePixels GptDataset::image(std::uint64_t index, int image) const {
  throw std::out_of_range(config_.prefix + ": text sample " + std::to_string(index) + " has no image " +
                          std::to_string(image));
}

}  // namespace hetero
