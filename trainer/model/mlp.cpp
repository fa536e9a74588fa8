#include "model/mlp.h"

#include <cmath>
#include <stdexcept>

#include "model/squared_relu.h"
#include "model/tp_ops.h"

namespace hetero {

SquaredReluMlp::SquaredReluMlp(ParamSet& params, const std::string& prefix, int64_t hidden, int64_t ffn,
                               const Group& tp, at::ScalarType compute)
    : tp_(tp), compute_(compute), weights_(compute) {
  if (ffn % tp.size() != 0)
    throw std::invalid_argument("mlp: tp=" + std::to_string(tp.size()) + " does not divide ffn_hidden_size=" +
                                std::to_string(ffn));
  up_ = params.add(prefix + ".up_proj.weight", {ffn, hidden}, 0, Init::Normal);
  down_ = params.add(prefix + ".down_proj.weight", {hidden, ffn}, 1, Init::Normal, 0.02 / std::sqrt(2.0));
}

at::Tensor SquaredReluMlp::forward(const at::Tensor& x) const {
  return leave_tp_region(forward_partial(enter_tp_region(x.to(compute_), tp_)), tp_).to(at::kFloat);
}

at::Tensor SquaredReluMlp::forward_partial(const at::Tensor& x) const {
  const at::Tensor h = squared_relu(weights_.linear(x, up_));
  return weights_.linear(h, down_);
}

}  // namespace hetero
