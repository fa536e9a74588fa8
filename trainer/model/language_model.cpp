#include "model/language_model.h"

#include <stdexcept>

#include <torch/csrc/autograd/custom_function.h>

#include "hetero/split_rules.h"
#include "model/tp_ops.h"
#include "model/transformer_block.h"
#include "model/vocab_parallel.h"

namespace hetero {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Adds `weight` x aux_loss to the objective without a loss tensor: identity
// on y forward; backward passes y's gradient through and gives aux_loss the
// gradient `weight` (Megatron's MoEAuxLossAutoScaler).
struct AttachAuxLoss : torch::autograd::Function<AttachAuxLoss> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& y, const at::Tensor& aux_loss, double weight) {
    ctx->saved_data["weight"] = weight;
    ctx->saved_data["aux"] = aux_loss.detach();
    return y.view_as(y);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const at::Tensor aux = ctx->saved_data["aux"].toTensor();
    return {grads[0], at::full_like(aux, ctx->saved_data["weight"].toDouble()), at::Tensor()};
  }
};

}  // namespace

LanguageModel::LanguageModel(const LlmArch& arch, std::uint64_t seed, const ModuleGroups& groups, int stage,
                             int num_stages, at::Device device, at::ScalarType compute, bool sequence_parallel)
    : arch_(arch),
      tp_(groups.tp),
      stage_(stage),
      num_stages_(num_stages),
      compute_(compute),
      weights_(compute),
      device_(device),
      sp_(sequence_parallel && groups.tp.size() > 1),
      params_(seed, groups.tp.rank, groups.tp.size(), device) {
  require_divisibility(llm_divisibility(arch, {groups.tp.size(), num_stages, groups.ep.size(), groups.etp.size()}, "llm"));
  const std::string& pattern = arch.hybrid_override_pattern;
  if (static_cast<int>(pattern.size()) != arch.num_layers || arch.num_layers % num_stages != 0)
    throw std::invalid_argument("llm: hybrid_override_pattern '" + pattern + "' must have num_layers=" +
                                std::to_string(arch.num_layers) + " characters, split evenly over pp=" +
                                std::to_string(num_stages));
  // Experts are split over etp, not tp: a ParamSet of their own.
  ParamSet experts(seed, groups.etp.rank, groups.etp.size(), device);
  if (first_stage())
    embedding_ = params_.add("llm.backbone.embeddings.weight", {arch.vocab_size, arch.hidden_size}, 0, Init::Normal);
  const int per_stage = arch.num_layers / num_stages;
  layers_.reserve(per_stage);
  for (int i = stage * per_stage; i < (stage + 1) * per_stage; ++i)
    layers_.emplace_back(params_, experts, "llm.backbone.layers." + std::to_string(i), pattern[i], arch, groups, sp_,
                         compute);
  if (last_stage()) {
    final_norm_ = params_.add("llm.backbone.norm_f.weight", {arch.hidden_size}, -1, Init::Ones);
    params_.params().back().decay = false;
    output_ = params_.add("llm.lm_head.weight", {arch.vocab_size, arch.hidden_size}, 0, Init::Normal);
  }
  for (Param p : experts.params()) {
    p.expert_dp = &groups.edp;
    params_.params().push_back(p);
  }
}

at::Tensor LanguageModel::embed(const at::Tensor& tokens, const at::Tensor& image_rows, std::int64_t image_token_id) const {
  const auto b = tokens.size(0), s = tokens.size(1);
  const at::Tensor flat_tokens = tokens.reshape({-1});
  at::Tensor x = vocab_parallel_embedding(flat_tokens, embedding_, tp_, /*grad_into_weight=*/embedding_.is_cuda());
  const at::Tensor slots = flat_tokens.eq(image_token_id).nonzero().squeeze(1);
  const int64_t n_rows = image_rows.defined() ? image_rows.size(0) : 0;
  if (slots.size(0) != n_rows)
    throw std::runtime_error("batch has " + std::to_string(slots.size(0)) + " image placeholders but " +
                             std::to_string(n_rows) + " image embeddings arrived");
  if (n_rows > 0) x = x.index_copy(0, slots, image_rows);
  return x.view({b, s, -1});
}

at::Tensor LanguageModel::layers(const at::Tensor& hidden, double sequence_weight) {
  const double sequences = static_cast<double>(hidden.size(0));
  // embed() gives every tp rank whole sequences; sp keeps a slice of each.
  at::Tensor x = first_stage() && sp_ ? split_sequences_to_tp(hidden, tp_) : hidden;
  for (const auto& layer : layers_) {
    at::Tensor load_balancing;
    x = layer.forward(x, &load_balancing);
    if (!load_balancing.defined()) continue;
    if (tp_.rank == 0) {
      const at::Tensor term = load_balancing.detach().to(at::kDouble).reshape({1}) * sequences;
      load_balancing_sum_ = load_balancing_sum_.defined() ? load_balancing_sum_ + term : term;
    }
    // The layer's loss is the mean over this microbatch's sequences.
    const double weight = arch_.moe_aux_loss_coeff * sequences * sequence_weight;
    if (weight > 0 && x.requires_grad()) x = AttachAuxLoss::apply(x, load_balancing, weight);
  }
  return x;
}

std::vector<std::pair<std::string, at::Tensor*>> LanguageModel::buffers() {
  std::vector<std::pair<std::string, at::Tensor*>> out;
  const int first = stage_ * (arch_.num_layers / num_stages_);
  for (size_t i = 0; i < layers_.size(); ++i)
    if (MoeLayer* moe = layers_[i].moe())
      out.emplace_back("llm.backbone.layers." + std::to_string(first + i) + ".mixer.gate.e_score_correction_bias",
                       &moe->score_correction_bias());
  return out;
}

at::Tensor LanguageModel::take_load_balancing_sum() {
  at::Tensor sum = load_balancing_sum_.defined()
                       ? load_balancing_sum_
                       : at::zeros({1}, at::TensorOptions().dtype(at::kDouble).device(device_));
  load_balancing_sum_ = at::Tensor();
  return sum;
}

at::Tensor LanguageModel::output_input(const at::Tensor& hidden) const {
  // Column-parallel output layer: each tp rank computes its vocabulary
  // shard, over whole sequences (under sp gathered from the slices).
  const at::Tensor normed = llm_rms_norm(hidden, replicated_weight(final_norm_, tp_, sp_), compute_);
  return enter_tp_region(normed, tp_, sp_);
}

at::Tensor LanguageModel::loss_sum(const TextBatch& batch, const at::Tensor& hidden) const {
  // The output layer and cross-entropy in chunks of tokens: the full
  // [tokens, V/tp] logits are never held (vocab_parallel.h).
  const at::Tensor in = output_input(hidden);
  return vocab_parallel_cross_entropy_sum(in.reshape({-1, in.size(-1)}), output_, batch.labels, batch.loss_mask, tp_,
                                          /*chunk_tokens=*/0, weights_.copy(output_), /*fused_kernels=*/true,
                                          weights_.accumulates_in_gemm(output_));
}

at::Tensor LanguageModel::logits(const at::Tensor& hidden) const {
  return at::matmul(output_input(hidden), weights_(output_).t());
}

}  // namespace hetero
