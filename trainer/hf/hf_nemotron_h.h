// Hugging Face NemotronH checkpoints (NemotronHForCausalLM): import into
// any LLM layout, export for transformers.
//
// Names: ours are "llm." + the checkpoint's (backbone.embeddings.weight,
// backbone.layers.N.{norm,mixer}.*, backbone.norm_f.weight, lm_head.weight;
// experts one tensor each, backbone.layers.N.mixer.experts.E.up_proj.weight,
// as save_pretrained writes them and from_pretrained fuses them). Layout:
// HF's, except the rows of a Mamba layer's in_proj.weight and the channels
// of its conv1d.weight / conv1d.bias, which we store group-major
// (mamba_mixer.h); to_hf_layout / from_hf_layout permute them.
#pragma once

#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "hf/hf_folder.h"
#include "checkpoint/weight_source.h"
#include "hetero/recipe.h"
#include "model/language_model.h"

namespace hetero {

// One tensor of a checkpoint: its HF name and full shape.
struct HfTensorSpec {
  std::string name;
  std::vector<int64_t> shape;
};

// Every tensor of `arch`'s checkpoint in model order, the MoE layers'
// gate.e_score_correction_bias included.
std::vector<HfTensorSpec> hf_nemotron_h_tensors(const LlmArch& arch);

// A tensor of ours in HF's layout, and back (exact: a row permutation).
at::Tensor to_hf_layout(const std::string& hf_name, const at::Tensor& ours, const LlmArch& arch);
at::Tensor from_hf_layout(const std::string& hf_name, const at::Tensor& theirs, const LlmArch& arch);

// A checkpoint folder as a WeightSource under our names and layout. The
// constructor checks the folder at the border: config.json against `arch`
// (check_hf_config), every tensor of the model present, and no tensor the
// model lacks, except the multi-token-prediction layers (mtp.*), which
// transformers' NemotronHForCausalLM skips too and which are listed in
// ignored(). Any other extra tensor is an error: it is a part of the
// checkpoint's model that our forward would not compute.
class HfNemotronHSource : public WeightSource {
 public:
  HfNemotronHSource(const std::string& dir, const LlmArch& arch);
  std::string describe() const override;
  at::Tensor full(const std::string& name) override;
  const std::vector<std::string>& ignored() const { return ignored_; }

 private:
  HfFolderReader reader_;
  LlmArch arch_;
  std::vector<std::string> ignored_;
};

// Loads this rank's part of the LLM (its pipeline stage, its tp / ep / etp
// shards, the MoE score-correction biases) from a Hugging Face NemotronH
// checkpoint folder.
void load_hf_nemotron_h(LanguageModel& llm, const std::string& dir, const LlmArch& arch);

}  // namespace hetero
