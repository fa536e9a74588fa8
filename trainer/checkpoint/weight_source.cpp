#include "checkpoint/weight_source.h"

#include <cmath>
#include <stdexcept>
#include <utility>

#include <ATen/core/grad_mode.h>

#include "hetero/errors.h"
#include "hetero/shape_text.h"

namespace hetero {

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

namespace {

// How many values of `t` are not finite, and the flat index of the first.
// Loaded tensors are contiguous fp32 on the host: one pass over the data,
// with no temporaries. (The ATen route allocated a mask and an int64 copy
// of it per tensor, which took most of a checkpoint's load time.)
std::pair<std::int64_t, std::int64_t> count_nonfinite(const at::Tensor& t) {
  if (t.device().is_cpu() && t.scalar_type() == at::kFloat && t.is_contiguous()) {
    const float* v = t.data_ptr<float>();
    const std::int64_t n = t.numel();
    std::int64_t count = 0;
    for (std::int64_t i = 0; i < n; ++i) count += !std::isfinite(v[i]);  // branch-free: vectorises
    std::int64_t first = -1;
    for (std::int64_t i = 0; count > 0 && first < 0; ++i)
      if (!std::isfinite(v[i])) first = i;
    return {count, first};
  }
  const at::Tensor bad = at::logical_not(at::isfinite(t)).reshape({-1});
  if (!bad.any().item<bool>()) return {0, -1};
  return {bad.sum().item<std::int64_t>(), bad.nonzero().flatten()[0].item<std::int64_t>()};
}

}  // namespace

void require_finite(const at::Tensor& full, const std::string& name, const WeightSource& source) {
  if (!at::isFloatingType(full.scalar_type())) return;
  const auto [count, first] = count_nonfinite(full);
  if (count == 0) return;
  const double value = full.reshape({-1})[first].item<double>();
  throw ConfigError(source.describe() + ": tensor " + name + " holds " + std::to_string(count) +
                    " non-finite value(s) (the first, at flat index " + std::to_string(first) + ", is " +
                    (std::isnan(value) ? "NaN" : value > 0 ? "+inf" : "-inf") + " of " +
                    std::to_string(full.numel()) + "); the checkpoint is corrupt: export or download it again");
}

void load_params(std::vector<Param>& params, WeightSource& source) {
  at::NoGradGuard no_grad;
  for (Param& p : params) {
    const at::Tensor mine = source.shard(p.name, p);
    if (!mine.defined())
      throw std::runtime_error(source.describe() + " has no tensor for parameter " + p.name +
                               "; check that the checkpoint was made for this recipe's architecture");
    require_finite(mine, p.name, source);
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
    require_finite(full, name, source);
    tensor->copy_(full);
  }
}

}  // namespace hetero
