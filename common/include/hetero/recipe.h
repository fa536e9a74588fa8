// The recipe model (design §9): one YAML file per recipe, with named scales.
//
// A recipe is read once, overrides (`--set a.b=v`) are applied to the YAML
// tree, the chosen scale's `model`/`train` sections are merged over the
// top-level ones, and the result is parsed into typed structs. Unknown keys
// and wrongly typed values are errors, whether they came from the file or
// from the command line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace hetero {

struct LlmArch {
  int num_layers = 0;
  int hidden_size = 0;
  int num_attention_heads = 0;
  int ffn_hidden_size = 0;
  int vocab_size = 0;
  int seq_length = 0;
  int num_experts = 0;  // 0: dense model
};

struct EncoderArch {
  int num_layers = 0;
  int hidden_size = 0;
  int num_attention_heads = 0;
  int ffn_hidden_size = 0;
  int patch_size = 0;
  int channels = 0;
  int max_grid_side = 0;  // side, in patches, of the learned position table
};

struct DataConfig {
  std::uint64_t seed = 0;
  int max_images_per_sample = 0;
  double text_only_fraction = 0.0;
  int image_min_side = 1;  // in patches
  int image_max_side = 1;  // in patches
};

struct TrainConfig {
  int global_batch_size = 0;
  int micro_batch_size = 0;
  int train_iters = 0;
  double lr = 0, min_lr = 0;
  int lr_warmup_iters = 0;
  std::string lr_decay_style;  // constant | cosine | linear
  double weight_decay = 0;
  double adam_beta1 = 0.9, adam_beta2 = 0.999, adam_eps = 1e-8;
  double clip_grad = 0;  // 0: no clipping
  int encoder_run_ahead = 1;  // microbatches the encoder may run ahead of the LLM
};

// One module's share of a scale. Its size is given as whole nodes or, for
// layouts smaller than a node (tiny, 1n), as a rank count.
struct ModuleScale {
  int nodes = 0;
  int ranks = 0;  // resolved size in ranks
  int tp = 1, cp = 1, pp = 1, ep = 1, etp = 1;
};

struct ScaleConfig {
  std::string name;
  std::string mode;  // hetero | colocated
  int nodes = 0;
  int gpus_per_node = 0;
  ModuleScale encoder;
  ModuleScale llm;
};

struct Recipe {
  std::string name;
  std::string file;  // the recipe.yaml that was read
  std::uint64_t seed = 0;
  LlmArch llm;
  EncoderArch encoder;
  DataConfig data;
  TrainConfig train;
  ScaleConfig scale;
  std::vector<std::string> scale_names;  // every scale the recipe defines
  YAML::Node resolved;  // the tree as run: overrides and scale merged in
};

// Reads `recipe` (a recipe directory or its recipe.yaml), applies `overrides`
// ("dotted.key=value", in order) and resolves `scale`. Throws ConfigError
// listing every problem found.
Recipe load_recipe(const std::string& recipe, const std::string& scale,
                   const std::vector<std::string>& overrides);

// Parses "a.b.c=value" into its path and value; throws ConfigError if malformed.
std::pair<std::vector<std::string>, std::string> parse_override(const std::string& text);

}  // namespace hetero
