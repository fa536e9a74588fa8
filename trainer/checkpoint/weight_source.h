// Initial weights from a checkpoint instead of the seed (design §4 draws
// every parameter in full from the seed; a checkpoint supplies the same full
// tensors). A source hands out whole, unsharded tensors under our parameter
// names and in our layout; load_params cuts each rank's shard, so one
// checkpoint loads into any tp / ep / etp / pp layout.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "model/params.h"

namespace hetero {

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  // What the weights come from, for messages (e.g. the checkpoint folder).
  virtual std::string describe() const = 0;
  // The full tensor of our parameter `name` in our layout (any dtype or
  // device), or an undefined tensor when the source has none by that name.
  virtual at::Tensor full(const std::string& name) = 0;
  // `name` cut as parameter `p` is cut on this rank (p's shape), or an
  // undefined tensor; a source that stores shards overrides it to skip
  // assembling the whole tensor.
  virtual at::Tensor shard(const std::string& name, const Param& p);
};

// Chunk p.shard of p.shards of `full` along p.tp_shard_dim (all of it for
// a replicated parameter).
at::Tensor shard_of(const at::Tensor& full, const Param& p);
// Throws a ConfigError naming the tensor, the source, how many values are
// NaN or infinite and the first one's index when `full` is not all finite:
// a checkpoint with one NaN would otherwise train (and skip every step) for
// ever. Every load of weights (this file's, the training checkpoint's) calls it.
void require_finite(const at::Tensor& full, const std::string& name, const WeightSource& source);

// Overwrites every parameter in `params` with its shard of source.full(name).
// Throws, naming the parameter and the source, when the source lacks one or
// its shape is not the parameter's global shape: a partial load would train
// from a silently mixed initialisation.
void load_params(std::vector<Param>& params, WeightSource& source);

// The same for state outside the ParamSet, replicated on every rank that
// holds it (e.g. LanguageModel::buffers(), the MoE score-correction biases):
// each is overwritten with source.full(name), whose shape must be its own.
void load_buffers(const std::vector<std::pair<std::string, at::Tensor*>>& buffers, WeightSource& source);

}  // namespace hetero
