// Hugging Face RADIO checkpoints: initialise the vision encoder from public
// C-RADIO weights, and write ours back in their layout.
//
// Two spellings of the same weights are read:
//   native  transformers' RadioModel (save_pretrained): embeddings.patch_projection,
//           embeddings.position_embedding [1, side*side, C], embeddings.cls_register_token,
//           encoder.layer.N.{norm1, attention.attention.{query,key,value}, attention.output.dense,
//           norm2, mlp.fc1, mlp.fc2}, input_conditioner.norm_{mean,std}
//   legacy  the released C-RADIO checkpoints (timm names; transformers renames them on load):
//           radio_model.model.patch_generator.{embedder, pos_embed, cls_token.token},
//           radio_model.model.blocks.N.{norm1, attn.qkv (q; k; v rows fused), attn.proj, norm2,
//           mlp.fc1, mlp.fc2}, radio_model.input_conditioner.norm_{mean,std}
// under any common prefix (e.g. "model." or a VLM's "vision_model."). Our
// blocks keep q, k, v separate (tensor parallelism splits each by heads), so
// a fused qkv is cut into its three row blocks on load and joined on export.
// Our blocks have no key bias (the softmax cancels it: it adds q . b_k to
// every score of a query alike), so a checkpoint's key bias is ignored on
// load and written as zeros on export; outputs are the same either way.
// The projector is not part of RADIO: it keeps its seeded initialisation.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "hf/hf_folder.h"
#include "checkpoint/weight_source.h"
#include "hetero/recipe.h"
#include "model/radio_encoder.h"

namespace hetero {

enum class HfRadioLayout { Native, Legacy };

// The checkpoint tensor that holds our parameter `ours` (relative to the
// checkpoint's prefix), and which third of its rows when it is a fused qkv
// (part 0 q, 1 k, 2 v; -1: the whole tensor). name is empty for parameters
// the layout has no place for (projector.*; the final norm in native).
struct HfRadioName {
  std::string name;
  int part = -1;
};
HfRadioName hf_radio_name(const std::string& ours, HfRadioLayout layout);

// Every problem that keeps `arch` from computing transformers' RadioModel
// (norm, biases, final norm, position interpolation), one message each with
// the --set that fixes it; empty when it can.
std::vector<std::string> hf_radio_arch_problems(const EncoderArch& arch, HfRadioLayout layout);

// Our full encoder tensors (our names and layouts; names outside encoder.*
// are skipped) as checkpoint tensors of `layout` (unprefixed for native,
// "radio_model." for legacy), plus the input conditioner's mean/std and
// identity layer scales. Zero key biases are written, and without biases in
// `arch` (bias=false) zero biases throughout: both compute the same.
std::map<std::string, at::Tensor> to_hf_radio(const std::map<std::string, at::Tensor>& ours, const EncoderArch& arch,
                                              HfRadioLayout layout = HfRadioLayout::Native);

// transformers' RadioConfig for `arch` (config.json). Throws ConfigError
// when arch is not a RadioModel (hf_radio_arch_problems) or its FFN width is
// not hidden_size * a float ratio.
nlohmann::json hf_radio_config(const EncoderArch& arch);

// Writes DIR/model.safetensors (F32) and DIR/config.json.
void save_hf_radio(const std::string& dir, const std::map<std::string, at::Tensor>& ours, const EncoderArch& arch,
                   HfRadioLayout layout = HfRadioLayout::Native);

// A RADIO checkpoint (a folder with model.safetensors, or a sharded one with
// model.safetensors.index.json, or a single .safetensors file) read as our
// encoder parameters. The constructor checks config.json (when there is
// one) and the conditioner/layer-scale tensors against `arch` and throws
// ConfigError naming every mismatch, its key and the fix.
class HfRadioCheckpoint : public WeightSource {
 public:
  HfRadioCheckpoint(const std::string& path, const EncoderArch& arch);

  std::string describe() const override;
  // Throws (naming the checkpoint tensor and the fix) when the checkpoint
  // lacks it; q/k/v biases of a checkpoint without qkv_bias are zeros.
  at::Tensor full(const std::string& name) override;

  HfRadioLayout layout() const { return layout_; }
  const std::string& prefix() const { return prefix_; }
  // The checkpoint tensor last asked for (for messages).
  const std::string& last_key() const { return last_key_; }
  // Tensors under the prefix that no full() call read and that are not the
  // conditioner's, the layer scales or summary_idxs (e.g. adaptor heads).
  std::vector<std::string> unused() const;

 private:
  at::Tensor read(const std::string& key) const;  // undefined when absent
  bool has(const std::string& key) const { return reader_.has(key); }

  std::string path_;
  EncoderArch arch_;
  HfFolderReader reader_;
  std::string config_;  // config.json beside the weights; empty when there is none
  HfRadioLayout layout_ = HfRadioLayout::Native;
  std::string prefix_;
  bool qkv_bias_ = true;
  std::map<std::string, bool> used_;
  std::string last_key_;
};

// Loads this rank's tp shards of the encoder (encoder.* parameters) from a
// RADIO checkpoint; the projector keeps its seeded values. Logs one line.
void load_hf_radio(RadioEncoder& encoder, const std::string& dir, const EncoderArch& arch);

}  // namespace hetero
