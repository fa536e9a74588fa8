// Megatron-LM's indexed dataset (PREFIX.bin + PREFIX.idx, as
// tools/preprocess_data.py writes them), memory-mapped.
//
// PREFIX.idx, little-endian: magic "MMIDIDX\0\0", u64 version (1), u8 dtype
// code (1 uint8, 2 int8, 3 int16, 4 int32, 5 int64, 6 float64, 7 float32,
// 8 uint16), u64 sequence count N, u64 document-index count D, then
// int32 sequence lengths [N], int64 byte pointers into .bin [N], int64
// document index [D] (document d is sequences [doc[d], doc[d+1])).
// PREFIX.bin holds the tokens back to back.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/mapped_file.h"

namespace hetero {

class IndexedDataset {
 public:
  // Validates the header and that every sequence lies inside the .bin;
  // throws DataError naming the file, the offset and the fix.
  explicit IndexedDataset(const std::string& prefix);

  std::uint64_t num_documents() const { return doc_index_.size() - 1; }
  std::uint64_t num_sequences() const { return lengths_.size(); }
  // Tokens of document d (all its sequences, in order).
  std::int64_t document_length(std::uint64_t d) const;
  // Appends `count` tokens of document d from token `offset` to `out`.
  void read_document(std::uint64_t d, std::int64_t offset, std::int64_t count, std::vector<std::int64_t>& out) const;
  std::vector<std::int64_t> document(std::uint64_t d) const;
  int dtype_code() const { return dtype_; }
  const std::string& prefix() const { return prefix_; }
  std::int64_t total_tokens() const { return total_tokens_; }

 private:
  std::int64_t token_at(std::int64_t byte_offset) const;

  std::string prefix_;
  std::unique_ptr<MappedFile> idx_, bin_;
  int dtype_ = 0;
  int elem_size_ = 0;
  std::vector<std::int32_t> lengths_;
  std::vector<std::int64_t> pointers_;
  std::vector<std::int64_t> doc_index_;
  std::vector<std::int64_t> doc_lengths_;
  std::int64_t total_tokens_ = 0;
};

// Writes PREFIX.bin/.idx in Megatron's format, one sequence per document
// (what preprocess_data.py writes without sentence splitting). dtype_code as
// above; integer codes only. Refuses to overwrite an existing file.
void write_indexed_dataset(const std::string& prefix, const std::vector<std::vector<std::int64_t>>& documents,
                           int dtype_code);

// Element size of a dtype code, 0 when the code is unknown.
int indexed_dtype_size(int code);

}  // namespace hetero
