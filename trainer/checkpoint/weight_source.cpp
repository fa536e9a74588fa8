#include "checkpoint/weight_source.h"

#include <sstream>
#include <stdexcept>

#include <ATen/core/grad_mode.h>

namespace hetero {
namespace {

std::string shape_text(at::IntArrayRef shape) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << "]";
  return s.str();
}

}  // namespace

at::Tensor shard_of(const at::Tensor& full, const Param& p) {
  return p.tp_shard_dim >= 0 ? full.chunk(p.shards, p.tp_shard_dim)[p.shard] : full;
}

at::Tensor WeightSource::shard(const std::string& name, const Param& p) {
  const at::Tensor whole = full(name);
  if (!whole.defined()) return whole;
  std::vector<int64_t> expected = p.value.sizes().vec();
  if (p.tp_shard_dim >= 0) expected[p.tp_shard_dim] *= p.shards;
  if (whole.sizes().vec() != expected)
    throw std::runtime_error(describe() + ": tensor for " + name + " has shape " + shape_text(whole.sizes()) +
                             " but the model's (unsharded) parameter is " + shape_text(expected) +
                             "; the recipe's architecture does not match the checkpoint");
  return shard_of(whole, p);
}

void load_params(std::vector<Param>& params, WeightSource& source) {
  at::NoGradGuard no_grad;
  for (Param& p : params) {
    const at::Tensor mine = source.shard(p.name, p);
    if (!mine.defined())
      throw std::runtime_error(source.describe() + " has no tensor for parameter " + p.name +
                               "; check that the checkpoint was made for this recipe's architecture");
    p.value.copy_(mine);
  }
}

void load_buffers(const std::vector<std::pair<std::string, at::Tensor*>>& buffers, WeightSource& source) {
  at::NoGradGuard no_grad;
  for (const auto& [name, tensor] : buffers) {
    const at::Tensor full = source.full(name);
    if (!full.defined())
      throw std::runtime_error(source.describe() + " has no tensor " + name +
                               "; check that the checkpoint was made for this recipe's architecture");
    if (full.sizes() != tensor->sizes())
      throw std::runtime_error(source.describe() + ": tensor " + name + " has shape " + shape_text(full.sizes()) +
                               " but the model's is " + shape_text(tensor->sizes()) +
                               "; the recipe's architecture does not match the checkpoint");
    tensor->copy_(full);
  }
}

}  // namespace hetero
