// Embedding dumps for parity checks (--dump-embeddings-at): at chosen
// iterations each lane's first rank keeps the projector output of every
// image (vision_proj) and the LLM's input rows (combined_embeddings) per
// global sample, and the lanes gather them into one safetensors file,
// RUN/embeddings/iter-NNNNNN.safetensors, keyed by global sample index.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "dist/comm.h"

namespace hetero {

class EmbeddingDump {
 public:
  // `lanes` is the group of the ranks that collect (one per lane), or null
  // where this rank collects nothing.
  EmbeddingDump(std::set<int> iters, const Group* lanes, std::string run_dir);

  bool collecting(int iter) const { return lanes_ && iters_.count(iter) > 0; }
  void add(const std::string& family, std::uint64_t sample, const at::Tensor& rows);
  // Collective over the lanes group at dump iterations; its first rank writes.
  void write(int iter);

 private:
  struct Entry {
    int family;  // index into kFamilies
    std::uint64_t sample;
    at::Tensor rows;  // [n, hidden], float, on CPU
  };
  std::set<int> iters_;
  const Group* lanes_;
  std::string run_dir_;
  std::vector<Entry> entries_;
};

}  // namespace hetero
