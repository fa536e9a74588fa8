#include "model/params.h"

#include <stdexcept>

#include "hetero/rng.h"

namespace hetero {

std::string model_part(const std::string& name) {
  auto starts = [&](const char* prefix) { return name.rfind(prefix, 0) == 0; };
  if (starts("encoder.")) return "vision";
  if (starts("projector.")) return "projector";
  if (starts("llm.")) return "llm";
  throw std::logic_error("parameter '" + name + "' belongs to no model part (encoder., projector., llm.)");
}

at::Tensor ParamSet::add(const std::string& name, std::vector<int64_t> shape, int tp_shard_dim, Init init,
                         double std) {
  at::Tensor full = at::empty(shape, at::kFloat);
  const int64_t n = full.numel();
  full_numel_ += n;
  if (init == Init::Ones) {
    full.fill_(1.0);
  } else {
    const CounterRng rng(mix(seed_, hash_name(name)));
    float* p = full.data_ptr<float>();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(std * rng.normal(static_cast<std::uint64_t>(i)));
  }
  at::Tensor local = full;
  if (tp_shard_dim >= 0 && tp_size_ > 1) {
    if (shape[tp_shard_dim] % tp_size_ != 0)
      throw std::invalid_argument("parameter " + name + ": dim " + std::to_string(tp_shard_dim) + " of size " +
                                  std::to_string(shape[tp_shard_dim]) + " cannot be split over tp=" +
                                  std::to_string(tp_size_));
    local = full.chunk(tp_size_, tp_shard_dim)[tp_rank_];
  }
  local = local.contiguous().to(device_).set_requires_grad(true);
  Param p;
  p.name = name;
  p.value = local;
  p.decay = init != Init::Ones;
  if (tp_shard_dim >= 0 && tp_size_ > 1) {
    p.tp_shard_dim = tp_shard_dim;
    p.shards = tp_size_;
    p.shard = tp_rank_;
  }
  params_.push_back(p);
  return local;
}

}  // namespace hetero
