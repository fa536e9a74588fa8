// The Nemotron-H hybrid language model (design §6): token embedding (image
// placeholder rows replaced by image embeddings), the layer stack of
// hybrid_override_pattern (hybrid_layer.h), final RMSNorm, untied output
// layer, and the summed cross-entropy over loss tokens. Parameter names are
// "llm." + the Hugging Face NemotronH names (backbone.embeddings.weight,
// backbone.layers.N.*, backbone.norm_f.weight, lm_head.weight).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "data/sample.h"
#include "data/text_batch.h"
#include "dist/comm.h"
#include "hetero/recipe.h"
#include "model/hybrid_layer.h"
#include "model/params.h"

namespace hetero {

// One pipeline stage of the LLM: the first stage owns the embedding, the
// last the final norm, output layer and loss, and each its contiguous share
// of the layers (named by their global index, so initial weights do not
// depend on the split). Embedding and output layer are split over tp by
// vocabulary; MoE experts over ep and etp (groups.ep, groups.etp).
class LanguageModel {
 public:
  // `sequence_parallel`: between tp regions each tp rank holds 1/tp of
  // every sequence (hybrid_layer.h); stages then pass [B, S/tp, hidden].
  LanguageModel(const LlmArch& arch, std::uint64_t seed, const ModuleGroups& groups, int stage, int num_stages,
                at::Device device, at::ScalarType compute, bool sequence_parallel = false);

  bool first_stage() const { return stage_ == 0; }
  bool last_stage() const { return stage_ == num_stages_ - 1; }
  // Tokens per sequence in the activations between stages: seq_length, or
  // this rank's 1/tp slice under sequence parallelism.
  int64_t stage_sequence_length(int64_t seq_length) const { return sp_ ? seq_length / tp_.size() : seq_length; }

  // First stage: the input rows [B, S, hidden], token embeddings with the N
  // image placeholder positions (row-major over the batch) filled by
  // `image_rows`.
  // Rows whose token is image_token_id (data.image_token_id) take the image rows, in order.
  at::Tensor embed(const at::Tensor& tokens, const at::Tensor& image_rows,
                   std::int64_t image_token_id = kImagePlaceholder) const;
  // This stage's layers over [B, S, hidden] (each row one sample): on the
  // first stage embed()'s output, on later stages the previous stage's
  // output ([B, stage_sequence_length(S), hidden]).
  // `sequence_weight`: the weight of one sequence in the objective (1 / the
  // global batch's sequences); each MoE layer's load-balancing loss enters
  // it as moe_aux_loss_coeff x the mean over all sequences of the global
  // batch, through the backward of the layer's output (no extra loss tensor
  // has to cross pipeline stages).
  at::Tensor layers(const at::Tensor& hidden, double sequence_weight);
  // Last stage: sum of cross-entropy over loss tokens; `hidden` is layers()'s output.
  at::Tensor loss_sum(const TextBatch& batch, const at::Tensor& hidden) const;
  // Last stage: the output layer's logits [B, S, vocab / tp], this tp rank's
  // vocabulary shard, in the compute dtype; `hidden` is layers()'s output.
  at::Tensor logits(const at::Tensor& hidden) const;

  // For logging: the sum, over this stage's MoE layers and the sequences
  // run since the last call, of their load-balancing loss, counted on tp
  // rank 0 only (0 elsewhere); resets it. A [1] fp64 tensor on the device,
  // accumulated there (no host sync per layer).
  at::Tensor take_load_balancing_sum();
  int num_moe_layers() const { return arch_.count_layers('E'); }

  // Every parameter of this stage; MoE experts carry their expert_dp group.
  ParamSet& params() { return params_; }
  // State a checkpoint holds besides params(), by full name: each MoE
  // layer's "llm.backbone.layers.N.mixer.gate.e_score_correction_bias".
  std::vector<std::pair<std::string, at::Tensor*>> buffers();

 private:
  LlmArch arch_;
  const Group& tp_;
  int stage_, num_stages_;
  at::ScalarType compute_;
  ComputeWeights weights_;  // bf16 copies of the weights, once per optimizer step
  at::Device device_;
  bool sp_;  // sequence parallelism, with tp > 1
  // The output layer's input: final norm, in the compute dtype, in the tp region.
  at::Tensor output_input(const at::Tensor& hidden) const;

  ParamSet params_;
  at::Tensor embedding_, final_norm_, output_;
  std::vector<HybridLayer> layers_;
  at::Tensor load_balancing_sum_;  // fp64 [1] on the device; undefined: 0
};

}  // namespace hetero
