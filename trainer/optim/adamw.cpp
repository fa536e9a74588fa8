#include "optim/adamw.h"

#include <algorithm>

#include <ATen/core/grad_mode.h>

#include "optim/adamw_step.h"

namespace hetero {
namespace {

AdamWStepConfig step_config(const TrainConfig& cfg, double lr, int step, double decay, double grad_scale) {
  AdamWStepConfig c;
  c.lr = lr;
  c.beta1 = cfg.adam_beta1;
  c.beta2 = cfg.adam_beta2;
  c.eps = cfg.adam_eps;
  c.step = step;
  c.decay = decay;
  c.grad_scale = grad_scale;
  return c;
}

}  // namespace

AdamW::AdamW(std::vector<Param>& params, const TrainConfig& cfg) : params_(params), cfg_(cfg) {
  for (auto& p : params_) {
    exp_avg_.push_back(at::zeros_like(p.value, at::kFloat));
    exp_avg_sq_.push_back(at::zeros_like(p.value, at::kFloat));
  }
}

void AdamW::step(double lr, double weight_decay, double grad_scale) {
  at::NoGradGuard no_grad;
  ++steps_;
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor w = params_[i].value;
    const double decay = params_[i].decay ? 1.0 - lr * weight_decay : 1.0;
    adamw_step(w, w.grad(), exp_avg_[i], exp_avg_sq_[i], at::Tensor(),
               step_config(cfg_, lr, steps_, decay, grad_scale));
  }
}

std::vector<OptimizerStatePiece> AdamW::state_pieces() {
  std::vector<OptimizerStatePiece> out;
  for (size_t i = 0; i < params_.size(); ++i) {
    out.push_back({&params_[i], "exp_avg", exp_avg_[i].view({-1}), 0, true});
    out.push_back({&params_[i], "exp_avg_sq", exp_avg_sq_[i].view({-1}), 0, true});
  }
  return out;
}

void AdamW::load_state(const MomentReader& read, int steps) {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    exp_avg_[i].copy_(read("exp_avg", params_[i]));
    exp_avg_sq_[i].copy_(read("exp_avg_sq", params_[i]));
  }
  steps_ = steps;
}

ShardedAdamW::ShardedAdamW(std::vector<Param>& params, const TrainConfig& cfg, const Group& dp)
    : params_(params), cfg_(cfg), dp_(dp) {
  std::vector<at::Tensor> masks;
  for (auto& p : params_) {
    total_ += p.value.numel();
    masks.push_back(at::full({p.value.numel()}, p.decay, at::TensorOptions().dtype(at::kBool)));
  }
  shard_ = (total_ + dp.size() - 1) / dp.size();
  begin_ = shard_ * dp.rank;
  const auto opts = at::TensorOptions().dtype(at::kFloat).device(dp.device);
  at::Tensor mask = masks.empty() ? at::empty({0}, at::kBool) : at::cat(masks);
  mask = at::constant_pad_nd(mask.to(at::kFloat), {0, shard_ * dp.size() - total_}).to(at::kBool);
  decay_mask_ = mask.narrow(0, begin_, shard_).to(dp.device);
  exp_avg_ = at::zeros({shard_}, opts);
  exp_avg_sq_ = at::zeros({shard_}, opts);
}

void ShardedAdamW::step(double lr, double weight_decay, double grad_scale) {
  at::NoGradGuard no_grad;
  ++steps_;
  const int64_t padded = shard_ * dp_.size();
  auto flat = [&](bool grads) {
    std::vector<at::Tensor> parts;
    for (auto& p : params_) parts.push_back((grads ? p.value.grad() : p.value).reshape({-1}));
    return at::constant_pad_nd(at::cat(parts), {0, padded - total_});
  };
  at::Tensor w = flat(false).narrow(0, begin_, shard_).clone();
  const at::Tensor g = flat(true).narrow(0, begin_, shard_);
  adamw_step(w, g, exp_avg_, exp_avg_sq_, decay_mask_,
             step_config(cfg_, lr, steps_, 1.0 - lr * weight_decay, grad_scale));

  // Every replica gets every updated share.
  const at::Tensor updated = at::cat(all_gather(dp_, w));
  int64_t offset = 0;
  for (auto& p : params_) {
    p.value.view({-1}).copy_(updated.narrow(0, offset, p.value.numel()));
    offset += p.value.numel();
  }
}

void ShardedAdamW::for_each_overlap(const std::function<void(const Param&, int64_t, int64_t, int64_t)>& f) const {
  int64_t offset = 0;
  for (const Param& p : params_) {
    const int64_t n = p.value.numel();
    const int64_t a = std::max(offset, begin_), b = std::min(offset + n, begin_ + shard_);
    if (a < b) f(p, a - offset, a - begin_, b - a);
    offset += n;
  }
}

std::vector<OptimizerStatePiece> ShardedAdamW::state_pieces() {
  std::vector<OptimizerStatePiece> out;
  for_each_overlap([&](const Param& p, int64_t in_param, int64_t in_share, int64_t n) {
    out.push_back({&p, "exp_avg", exp_avg_.narrow(0, in_share, n), in_param, false});
    out.push_back({&p, "exp_avg_sq", exp_avg_sq_.narrow(0, in_share, n), in_param, false});
  });
  return out;
}

void ShardedAdamW::load_state(const MomentReader& read, int steps) {
  at::NoGradGuard no_grad;
  exp_avg_.zero_();
  exp_avg_sq_.zero_();
  for_each_overlap([&](const Param& p, int64_t in_param, int64_t in_share, int64_t n) {
    exp_avg_.narrow(0, in_share, n).copy_(read("exp_avg", p).reshape({-1}).narrow(0, in_param, n));
    exp_avg_sq_.narrow(0, in_share, n).copy_(read("exp_avg_sq", p).reshape({-1}).narrow(0, in_param, n));
  });
  steps_ = steps;
}

namespace {

// The distributed optimizer of a module with MoE experts: their values
// differ across dp ranks (other experts), so their state is sharded over
// their expert-data-parallel group, the rest over dp.
class DenseAndExpertAdamW : public Optimizer {
 public:
  DenseAndExpertAdamW(const std::vector<Param>& params, const TrainConfig& cfg, const Group& dp) {
    for (const Param& p : params) (p.expert_dp ? experts_ : dense_).push_back(p);
    dense_optim_ = std::make_unique<ShardedAdamW>(dense_, cfg, dp);
    expert_optim_ = std::make_unique<ShardedAdamW>(experts_, cfg, *experts_.front().expert_dp);
  }
  void step(double lr, double weight_decay, double grad_scale) override {
    dense_optim_->step(lr, weight_decay, grad_scale);
    expert_optim_->step(lr, weight_decay, grad_scale);
  }
  int steps() const override { return dense_optim_->steps(); }
  std::vector<OptimizerStatePiece> state_pieces() override {
    std::vector<OptimizerStatePiece> out = dense_optim_->state_pieces();
    for (auto& piece : expert_optim_->state_pieces()) out.push_back(std::move(piece));
    return out;
  }
  void load_state(const MomentReader& read, int steps) override {
    dense_optim_->load_state(read, steps);
    expert_optim_->load_state(read, steps);
  }

 private:
  std::vector<Param> dense_, experts_;  // copies share the tensors
  std::unique_ptr<Optimizer> dense_optim_, expert_optim_;
};

}  // namespace

std::unique_ptr<Optimizer> make_optimizer(std::vector<Param>& params, const TrainConfig& cfg, const Group& dp,
                                          bool distributed) {
  const bool has_experts = std::any_of(params.begin(), params.end(), [](const Param& p) { return p.expert_dp; });
  if (distributed && has_experts) return std::make_unique<DenseAndExpertAdamW>(params, cfg, dp);
  if (distributed) return std::make_unique<ShardedAdamW>(params, cfg, dp);
  return std::make_unique<AdamW>(params, cfg);
}

}  // namespace hetero
