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

class LanguageModel {
 public:
  LanguageModel(const LlmArch& arch, std::uint64_t seed, const Group& tp, at::Device device, at::ScalarType compute);

  // The LLM's input rows [B, S, hidden]: token embeddings with the N image
  // placeholder positions (row-major over the batch) filled by `image_rows`.
  at::Tensor embed(const at::Tensor& tokens, const at::Tensor& image_rows) const;
  // Sum of cross-entropy over loss tokens, from the input rows.
  at::Tensor loss_sum(const TextBatch& batch, const at::Tensor& input_rows) const;

  ParamSet& params() { return params_; }

 private:
  LlmArch arch_;
  at::ScalarType compute_;
  ParamSet params_;
  at::Tensor embedding_, final_norm_, output_;
  std::vector<TransformerBlock> blocks_;
};

}  // namespace hetero
