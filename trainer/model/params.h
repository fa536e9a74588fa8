// Named parameters with topology-independent initialisation (design §4):
// each is drawn in full from (seed, name, global shape), then this rank keeps
// its tensor-parallel shard.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "dist/comm.h"

namespace hetero {

struct Param {
  std::string name;
  at::Tensor value;       // this rank's shard, requires grad
  int tp_shard_dim = -1;  // -1: replicated on every tp rank
  // This rank holds chunk `shard` of `shards` equal chunks along
  // tp_shard_dim (over tp, or over etp for MoE experts): what a checkpoint
  // loader slices out of the full tensor.
  int shards = 1, shard = 0;
  bool decay = true;      // weight decay applies (not for norms)
  // Where the gradient is summed (and optimizer state sharded): null for the
  // module's dp group; MoE experts name their expert-data-parallel group,
  // and every element of theirs is distinct within it (design §7 step 4).
  const Group* expert_dp = nullptr;
};

enum class Init { Normal, Ones };

// The part of the VLM a parameter belongs to, as train.freeze names them
// (kFreezableParts): "vision" (encoder.*), "projector" (projector.*) or "llm".
std::string model_part(const std::string& param_name);

class ParamSet {
 public:
  ParamSet(std::uint64_t seed, int tp_rank, int tp_size, at::Device device)
      : seed_(seed), tp_rank_(tp_rank), tp_size_(tp_size), device_(device) {}

  // Creates `name` with global shape `shape`, sharded along `tp_shard_dim`.
  at::Tensor add(const std::string& name, std::vector<int64_t> shape, int tp_shard_dim, Init init,
                 double std = 0.02);

  std::vector<Param>& params() { return params_; }
  const std::vector<Param>& params() const { return params_; }
  // Parameter count of the full (unsharded) model.
  std::int64_t full_numel() const { return full_numel_; }

 private:
  std::uint64_t seed_;
  int tp_rank_, tp_size_;
  at::Device device_;
  std::vector<Param> params_;
  std::int64_t full_numel_ = 0;
};

}  // namespace hetero
