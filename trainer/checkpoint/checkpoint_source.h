// A training checkpoint (checkpoint_manifest.h) as a WeightSource: any
// tensor assembled in full from the pieces whatever layout saved them, or
// just the shard a rank needs when the saved layout cut it the same way.
// Files are opened (and checked against the manifest) when first needed.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "checkpoint/weight_source.h"
#include "hetero/checkpoint_manifest.h"
#include "hetero/safetensors.h"

namespace hetero {

class CheckpointSource : public WeightSource {
 public:
  // `dir`: RUN/checkpoints/iter-N. Reads the manifest; throws CheckpointError.
  explicit CheckpointSource(const std::string& dir);
  const CheckpointManifest& manifest() const { return manifest_; }
  std::string describe() const override { return "checkpoint " + dir_; }
  // Undefined when the checkpoint has no tensor by that name.
  at::Tensor full(const std::string& name) override;
  // `name` cut as `p` is cut on this rank (p's shape).
  at::Tensor shard(const std::string& name, const Param& p) override;
  bool has(const std::string& name) const { return by_tensor_.count(name) > 0; }
  // Global shape of a tensor the checkpoint holds.
  std::vector<int64_t> global_shape(const std::string& name) const;
  // Names of the weights and buffers (not optimizer moments) under `prefix`.
  std::vector<std::string> weight_names(const std::string& prefix = "") const;

 private:
  // Chunk `shard` of `shards` along `dim`, from the pieces saved that way.
  at::Tensor chunk(const std::string& name, int dim, int shards, int shard);
  const SafeTensorReader& reader(const std::string& file);

  std::string dir_;
  CheckpointManifest manifest_;
  std::map<std::string, std::vector<const CheckpointPiece*>> by_tensor_;
  std::map<std::string, std::unique_ptr<SafeTensorReader>> readers_;
};

}  // namespace hetero
