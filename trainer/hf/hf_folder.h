// The weights of a Hugging Face checkpoint folder, as save_pretrained
// writes them: model.safetensors, or model-0000i-of-0000n.safetensors shards
// listed in model.safetensors.index.json ({"metadata": {"total_size": bytes},
// "weight_map": {tensor: file}}). Model-agnostic: names are the file's.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "hetero/safetensors.h"

namespace hetero {

class HfFolderReader {
 public:
  // Reads the headers of every file of the folder (or of `dir` itself when
  // it is one .safetensors file). Throws ConfigError, naming the folder and
  // the files looked for, when it has neither form.
  explicit HfFolderReader(const std::string& dir);
  const std::string& dir() const { return dir_; }
  std::vector<std::string> names() const;  // every tensor, sorted
  bool has(const std::string& name) const { return where_.count(name) > 0; }
  std::vector<int64_t> shape(const std::string& name) const;
  // The tensor as float32 on CPU (BF16 / F16 / F64 converted).
  at::Tensor read(const std::string& name) const;

 private:
  std::string dir_;
  std::vector<std::unique_ptr<SafeTensorReader>> files_;
  std::map<std::string, const SafeTensorReader*> where_;
};

// Writes `tensors` (in this order, each in its SafeTensor::dtype) into `dir`
// as model.safetensors, or, when they exceed max_shard_bytes, as shards
// model-0000i-of-0000n.safetensors (consecutive tensors, each shard at most
// max_shard_bytes unless one tensor alone is larger) and the index.
// Files carry metadata {"format": "pt"}, which transformers requires.
void write_hf_weights(const std::string& dir, const std::vector<std::pair<std::string, SafeTensor>>& tensors,
                      std::uint64_t max_shard_bytes);

}  // namespace hetero
