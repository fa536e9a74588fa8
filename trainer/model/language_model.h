// Stand-in decoder LM: token embedding (image placeholder rows replaced by
// image embeddings), causal transformer blocks, final norm, untied output
// layer, and the summed cross-entropy over loss tokens.
#pragma once

#include <vector>

#include <ATen/ATen.h>

#include "dist/comm.h"
#include "hetero/recipe.h"
#include "model/params.h"
#include "model/transformer_block.h"

namespace hetero {

struct TextBatch {
  at::Tensor tokens;     // [B, S] input ids, image placeholders included
  at::Tensor labels;     // [B, S]
  at::Tensor loss_mask;  // [B, S] float, 1 where the label counts
};

// One pipeline stage of the LLM: the first stage owns the embedding, the
// last the final norm, output layer and loss, and each its share of the
// layers (named by their global index, so initial weights do not depend on
// the split). Embedding and output layer are split over tp by vocabulary.
class LanguageModel {
 public:
  LanguageModel(const LlmArch& arch, std::uint64_t seed, const Group& tp, int stage, int num_stages,
                at::Device device, at::ScalarType compute);

  bool first_stage() const { return stage_ == 0; }
  bool last_stage() const { return stage_ == num_stages_ - 1; }

  // First stage: the input rows [B, S, hidden], token embeddings with the N
  // image placeholder positions (row-major over the batch) filled by
  // `image_rows`.
  at::Tensor embed(const at::Tensor& tokens, const at::Tensor& image_rows) const;
  // This stage's layers.
  at::Tensor layers(const at::Tensor& hidden) const;
  // Last stage: sum of cross-entropy over loss tokens.
  at::Tensor loss_sum(const TextBatch& batch, const at::Tensor& hidden) const;

  ParamSet& params() { return params_; }

 private:
  LlmArch arch_;
  const Group& tp_;
  int stage_, num_stages_;
  at::ScalarType compute_;
  ParamSet params_;
  at::Tensor embedding_, final_norm_, output_;
  std::vector<TransformerBlock> blocks_;
};

}  // namespace hetero
