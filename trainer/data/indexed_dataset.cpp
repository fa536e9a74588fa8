#include "data/indexed_dataset.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "data/dataset.h"

namespace hetero {
namespace {

constexpr char kMagic[9] = {'M', 'M', 'I', 'D', 'I', 'D', 'X', 0, 0};

template <typename T>
T read_le(const std::uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));  // the hosts we run on are little-endian, as the format is
  return v;
}

template <typename T>
void put(std::ofstream& out, T v) {
  out.write(reinterpret_cast<const char*>(&v), sizeof(T));
}

}  // namespace

int indexed_dtype_size(int code) {
  switch (code) {
    case 1: case 2: return 1;
    case 3: case 8: return 2;
    case 4: case 7: return 4;
    case 5: case 6: return 8;
    default: return 0;
  }
}

IndexedDataset::IndexedDataset(const std::string& prefix) : prefix_(prefix) {
  const std::string idx_path = prefix + ".idx", bin_path = prefix + ".bin";
  for (const std::string& p : {idx_path, bin_path})
    if (!std::filesystem::exists(p))
      throw DataError(p + ": missing; a Megatron indexed dataset is PREFIX.bin + PREFIX.idx (written by "
                      "tools/preprocess_data.py); give data.blend the prefix without the extension");
  idx_ = std::make_unique<MappedFile>(idx_path);
  bin_ = std::make_unique<MappedFile>(bin_path);
  const std::uint8_t* p = idx_->data();
  const std::size_t n = idx_->size();
  const std::size_t header = 9 + 8 + 1 + 8 + 8;
  if (n < 9 || std::memcmp(p, kMagic, 9) != 0)
    throw DataError(idx_path + ": offset 0: not a Megatron indexed dataset (magic is not MMIDIDX); rewrite it with "
                    "Megatron-LM's tools/preprocess_data.py");
  if (n < header) throw DataError(idx_path + ": truncated header (" + std::to_string(n) + " bytes); rewrite it");
  const auto version = read_le<std::uint64_t>(p + 9);
  if (version != 1)
    throw DataError(idx_path + ": offset 9: version " + std::to_string(version) +
                    ", only version 1 is read; rewrite it with Megatron-LM's tools/preprocess_data.py");
  dtype_ = p[17];
  elem_size_ = indexed_dtype_size(dtype_);
  if (elem_size_ == 0 || dtype_ == 6 || dtype_ == 7)
    throw DataError(idx_path + ": offset 17: dtype code " + std::to_string(dtype_) +
                    " is not an integer token type (codes 1-5 and 8); rewrite the dataset");
  const auto seqs = read_le<std::uint64_t>(p + 18), docs = read_le<std::uint64_t>(p + 26);
  const std::size_t need = header + seqs * 4 + seqs * 8 + docs * 8;
  if (docs < 1 || need > n)
    throw DataError(idx_path + ": holds " + std::to_string(n) + " bytes, its header announces " +
                    std::to_string(seqs) + " sequences and " + std::to_string(docs) + " document entries (" +
                    std::to_string(need) + " bytes); the file is truncated: rewrite it");
  lengths_.resize(seqs);
  pointers_.resize(seqs);
  doc_index_.resize(docs);
  std::memcpy(lengths_.data(), p + header, seqs * 4);
  std::memcpy(pointers_.data(), p + header + seqs * 4, seqs * 8);
  std::memcpy(doc_index_.data(), p + header + seqs * 12, docs * 8);
  for (std::uint64_t s = 0; s < seqs; ++s) {
    const std::uint64_t end = static_cast<std::uint64_t>(pointers_[s]) + static_cast<std::uint64_t>(lengths_[s]) * elem_size_;
    if (lengths_[s] < 0 || pointers_[s] < 0 || end > bin_->size())
      throw DataError(bin_path + ": sequence " + std::to_string(s) + " lies at bytes [" + std::to_string(pointers_[s]) +
                      ", " + std::to_string(end) + ") but the file has " + std::to_string(bin_->size()) +
                      " bytes: the .bin is truncated or belongs to another .idx; copy both files again");
  }
  doc_lengths_.resize(docs - 1);
  for (std::uint64_t d = 0; d + 1 < docs; ++d) {
    const std::int64_t b = doc_index_[d], e = doc_index_[d + 1];
    if (b < 0 || e < b || e > static_cast<std::int64_t>(seqs))
      throw DataError(idx_path + ": document " + std::to_string(d) + " spans sequences [" + std::to_string(b) + ", " +
                      std::to_string(e) + ") of " + std::to_string(seqs) + "; the index is corrupt: rewrite it");
    std::int64_t len = 0;
    for (std::int64_t s = b; s < e; ++s) len += lengths_[s];
    doc_lengths_[d] = len;
    total_tokens_ += len;
  }
}

std::int64_t IndexedDataset::document_length(std::uint64_t d) const { return doc_lengths_.at(d); }

std::int64_t IndexedDataset::token_at(std::int64_t byte_offset) const {
  const std::uint8_t* q = bin_->data() + byte_offset;
  switch (dtype_) {
    case 1: return *q;
    case 2: return static_cast<std::int8_t>(*q);
    case 3: return read_le<std::int16_t>(q);
    case 4: return read_le<std::int32_t>(q);
    case 5: return read_le<std::int64_t>(q);
    default: return read_le<std::uint16_t>(q);  // 8
  }
}

void IndexedDataset::read_document(std::uint64_t d, std::int64_t offset, std::int64_t count,
                                   std::vector<std::int64_t>& out) const {
  for (std::int64_t s = doc_index_.at(d); s < doc_index_[d + 1] && count > 0; ++s) {
    const std::int64_t len = lengths_[s];
    if (offset >= len) {
      offset -= len;
      continue;
    }
    const std::int64_t take = std::min(count, len - offset);
    for (std::int64_t k = 0; k < take; ++k) out.push_back(token_at(pointers_[s] + (offset + k) * elem_size_));
    count -= take;
    offset = 0;
  }
}

std::vector<std::int64_t> IndexedDataset::document(std::uint64_t d) const {
  std::vector<std::int64_t> out;
  read_document(d, 0, document_length(d), out);
  return out;
}

void write_indexed_dataset(const std::string& prefix, const std::vector<std::vector<std::int64_t>>& documents,
                           int dtype_code) {
  const int size = indexed_dtype_size(dtype_code);
  if (size == 0 || dtype_code == 6 || dtype_code == 7)
    throw std::invalid_argument("write_indexed_dataset: dtype code " + std::to_string(dtype_code) +
                                " is not an integer type (1-5, 8)");
  for (const std::string& p : {prefix + ".bin", prefix + ".idx"})
    if (std::filesystem::exists(p)) throw std::runtime_error(p + " exists; not overwriting it");
  std::ofstream bin(prefix + ".bin", std::ios::binary), idx(prefix + ".idx", std::ios::binary);
  std::vector<std::int64_t> pointers;
  std::int64_t at = 0;
  for (const auto& doc : documents) {
    pointers.push_back(at);
    for (std::int64_t t : doc) {
      switch (dtype_code) {
        case 1: put<std::uint8_t>(bin, static_cast<std::uint8_t>(t)); break;
        case 2: put<std::int8_t>(bin, static_cast<std::int8_t>(t)); break;
        case 3: put<std::int16_t>(bin, static_cast<std::int16_t>(t)); break;
        case 4: put<std::int32_t>(bin, static_cast<std::int32_t>(t)); break;
        case 5: put<std::int64_t>(bin, t); break;
        default: put<std::uint16_t>(bin, static_cast<std::uint16_t>(t)); break;
      }
    }
    at += static_cast<std::int64_t>(doc.size()) * size;
  }
  idx.write(kMagic, 9);
  put<std::uint64_t>(idx, 1);
  put<std::uint8_t>(idx, static_cast<std::uint8_t>(dtype_code));
  put<std::uint64_t>(idx, documents.size());
  put<std::uint64_t>(idx, documents.size() + 1);
  for (const auto& doc : documents) put<std::int32_t>(idx, static_cast<std::int32_t>(doc.size()));
  for (std::int64_t p : pointers) put<std::int64_t>(idx, p);
  for (std::uint64_t d = 0; d <= documents.size(); ++d) put<std::int64_t>(idx, static_cast<std::int64_t>(d));
  if (!bin || !idx) throw std::runtime_error(prefix + ": writing the indexed dataset failed");
}

}  // namespace hetero
