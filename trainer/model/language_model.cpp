#include "model/language_model.h"

#include <stdexcept>

#include "data/mock_data.h"
#include "model/tp_ops.h"
#include "model/vocab_parallel.h"

namespace hetero {

LanguageModel::LanguageModel(const LlmArch& arch, std::uint64_t seed, const Group& tp, int stage, int num_stages,
                             at::Device device, at::ScalarType compute)
    : arch_(arch),
      tp_(tp),
      stage_(stage),
      num_stages_(num_stages),
      compute_(compute),
      params_(seed, tp.rank, tp.size(), device) {
  if (first_stage())
    embedding_ = params_.add("llm.embedding.weight", {arch.vocab_size, arch.hidden_size}, 0, Init::Normal);
  const int per_stage = arch.num_layers / num_stages;
  blocks_.reserve(per_stage);
  for (int i = stage * per_stage; i < (stage + 1) * per_stage; ++i)
    blocks_.emplace_back(params_, "llm.layers." + std::to_string(i), arch.hidden_size, arch.num_attention_heads,
                         arch.ffn_hidden_size, tp, compute);
  if (last_stage()) {
    final_norm_ = params_.add("llm.final_norm.weight", {arch.hidden_size}, -1, Init::Ones);
    output_ = params_.add("llm.output_layer.weight", {arch.vocab_size, arch.hidden_size}, 0, Init::Normal);
  }
}

at::Tensor LanguageModel::embed(const at::Tensor& tokens, const at::Tensor& image_rows) const {
  const auto b = tokens.size(0), s = tokens.size(1);
  const at::Tensor flat_tokens = tokens.reshape({-1});
  at::Tensor x = vocab_parallel_embedding(flat_tokens, embedding_, tp_);
  const at::Tensor slots = flat_tokens.eq(kImagePlaceholder).nonzero().squeeze(1);
  const int64_t n_rows = image_rows.defined() ? image_rows.size(0) : 0;
  if (slots.size(0) != n_rows)
    throw std::runtime_error("batch has " + std::to_string(slots.size(0)) + " image placeholders but " +
                             std::to_string(n_rows) + " image embeddings arrived");
  if (n_rows > 0) x = x.index_copy(0, slots, image_rows);
  return x.view({b, s, -1});
}

at::Tensor LanguageModel::layers(const at::Tensor& hidden) const {
  const auto s = hidden.size(1);
  const at::Tensor causal =
      at::ones({s, s}, at::TensorOptions().dtype(at::kBool).device(hidden.device())).tril().unsqueeze(0);
  at::Tensor x = hidden;
  for (const auto& block : blocks_) x = block.forward(x, causal);
  return x;
}

at::Tensor LanguageModel::loss_sum(const TextBatch& batch, const at::Tensor& hidden) const {
  // Column-parallel output layer: each tp rank computes its vocabulary shard.
  const at::Tensor normed = enter_tp_region(rms_norm(hidden, final_norm_), tp_);
  const at::Tensor logits = at::matmul(normed.to(compute_), output_.to(compute_).t());
  const at::Tensor nll = vocab_parallel_cross_entropy(logits, batch.labels, tp_);
  return (nll * batch.loss_mask).sum();
}

}  // namespace hetero
