// Image-text webdataset shards in Megatron-Energon's layout:
//
//   DIR/.nv-meta/split.yaml        split_parts: {train: [shard_000.tar, ...], val: [...]}
//   DIR/.nv-meta/.info.json|yaml   shard_counts: {shard_000.tar: 100, ...}
//   DIR/shard_000.tar              the samples
//   DIR/shard_000.tar.idx          little-endian u64 byte offset of each sample's first
//                                  tar header, then the offset where the last sample ends
//
// A sample is the run of consecutive tar members sharing a key: the member
// path up to the first dot of its basename ("a/0001.0.jpg" is key "a/0001",
// extension "0.jpg").
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/mapped_file.h"

namespace hetero {

struct TarMember {
  std::string extension;  // after the first dot of the basename
  std::uint64_t offset = 0, size = 0;  // of the content, in the tar
};

struct ShardSample {
  std::string shard;  // path of the tar
  std::string key;
  std::uint64_t offset = 0;  // of its first header
  std::vector<TarMember> members;
  const std::uint8_t* tar = nullptr;  // the mapped tar (content of member m: tar + m.offset)
};

// Reads the tar headers of one shard from `begin` to `end`, grouped into
// samples (used by the index writer and by the reader to check the index).
struct ScannedSample {
  std::string key;
  std::uint64_t offset;
  std::vector<TarMember> members;
};
std::vector<ScannedSample> scan_tar(const std::uint8_t* data, std::uint64_t size, std::uint64_t begin,
                                    std::uint64_t end, const std::string& path);

class ShardSet {
 public:
  // Reads split.yaml, the counts and every shard's index; checks that they
  // agree with the tars. Throws DataError naming the file and the fix.
  ShardSet(const std::string& dir, const std::string& split);

  std::uint64_t size() const { return total_; }
  // Sample g of the split, in shard order.
  ShardSample sample(std::uint64_t g) const;
  const std::string& dir() const { return dir_; }
  const std::vector<std::string>& shards() const { return names_; }
  std::uint64_t shard_count(size_t shard) const { return counts_[shard]; }

 private:
  std::string dir_;
  std::vector<std::string> names_;
  std::vector<std::unique_ptr<MappedFile>> tars_;
  std::vector<std::vector<std::uint64_t>> offsets_;  // per shard: count + 1
  std::vector<std::uint64_t> counts_, first_;         // samples per shard, first global index
  std::uint64_t total_ = 0;
};

// The shard names a split lists in DIR/.nv-meta/split.yaml ("{000..009}"
// ranges expanded, as Energon allows).
std::vector<std::string> split_shards(const std::string& dir, const std::string& split);
// Every shard of every split.
std::vector<std::string> all_shards(const std::string& dir);

// Writes each shard's missing .tar.idx and, when neither exists, .nv-meta/.info.json.
// Returns one line per file written; never overwrites a file.
std::vector<std::string> index_shards(const std::string& dir);

// Writes a tar of (name, bytes) members, in order (tests and generators).
// Refuses to overwrite an existing file.
void write_tar(const std::string& path, const std::vector<std::pair<std::string, std::vector<std::uint8_t>>>& members);

}  // namespace hetero
