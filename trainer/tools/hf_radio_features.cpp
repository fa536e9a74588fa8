// hetero-hf radio-features: our RADIO ViT's per-token features for given
// images, from a Hugging Face RADIO checkpoint, for comparison with
// transformers' RadioModel(pixel_values).features.
// hetero-hf radio-export: our encoder's weights as a Hugging Face RADIO
// checkpoint (config.json + model.safetensors) that RadioModel.from_pretrained
// loads.
// Both run in one process with a tensor-parallel group of one (no process
// group, so no Gloo or NCCL is needed).
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <boost/program_options.hpp>

#include "hf/hf_radio.h"
#include "checkpoint/tensor_io.h"
#include "checkpoint/weight_source.h"
#include "data/image_batch.h"
#include "checkpoint/checkpoint_source.h"
#include "hetero/cli.h"
#include "hetero/errors.h"
#include "hetero/recipe.h"
#include "hetero/safetensors.h"
#include "model/radio_encoder.h"
#include "tools/hf_commands.h"
#include "tools/radio_images.h"
#include "tools/single_process.h"

namespace po = boost::program_options;

namespace hetero {
namespace {

// A weights snapshot (RUN/weights/iter-N/encoder-stage-0.safetensors) or any
// safetensors file with our parameter names.
class SnapshotSource : public WeightSource {
 public:
  explicit SnapshotSource(const std::string& path) : path_(path), reader_(path) {}
  std::string describe() const override { return "weights file " + path_; }
  at::Tensor full(const std::string& name) override {
    return reader_.has(name) ? to_tensor(reader_.read(name)) : at::Tensor();
  }

 private:
  std::string path_;
  SafeTensorReader reader_;
};

}  // namespace

int hf_radio_features(int argc, char** argv) {
  RecipeArgs recipe_args;
  std::string hf, images_path, out_path, device_name, dtype_name;
  po::options_description desc(
      "hetero-hf radio-features: our RADIO ViT's per-token features for given images, from a Hugging Face RADIO "
      "checkpoint (tensor parallelism 1, one process)\n"
      "Images: a safetensors file of tensors [C, H, W] (or [1, C, H, W]), pixel values as transformers' RadioModel "
      "takes them (C-RADIO: in [0, 1], before the input conditioner's mean/std), H and W multiples of "
      "patch_size; each image keeps its exact size (no dynamic-resolution resize).\n"
      "Output: for each image the tensor of the same name, [(H/p)*(W/p), hidden] F32, patches in row-major order: "
      "after the last block (and the final norm if the recipe has one), class and register tokens dropped, before "
      "the pixel shuffle and the projector: RadioModel's `features`.\nOptions");
  add_recipe_options(desc, recipe_args);
  desc.add_options()
    ("hf", po::value(&hf)->required(), "Hugging Face RADIO checkpoint folder (or .safetensors file)")
    ("images", po::value(&images_path)->required(), "safetensors file of images [C, H, W]")
    ("out", po::value(&out_path)->required(), "safetensors file to write the features to")
    ("device", po::value(&device_name)->default_value("cpu"), "cpu or cuda")
    ("dtype", po::value(&dtype_name)->default_value("fp32"), "compute dtype: fp32 or bf16");
  if (!parse_command_line(argc, argv, desc, "hetero-hf radio-features")) return 0;
  const at::Device device = parse_device(device_name);
  const at::ScalarType compute = parse_compute_dtype(dtype_name);
  const Recipe r = load_recipe(recipe_args.recipe, recipe_args.scale, recipe_args.overrides);
  const EncoderArch& a = r.encoder;

  const Group tp = single_process_group(device);
  RadioEncoder encoder(a, r.llm.hidden_size, r.seed, tp, device, compute);
  load_hf_radio(encoder, hf, a);

  const RadioImages images = read_radio_images(images_path, a, device);
  const ImageBatch& batch = images.batch;
  const std::vector<std::string>& names = images.names;

  at::NoGradGuard no_grad;
  const at::Tensor features = encoder.features(batch).to(at::kCPU);
  std::map<std::string, SafeTensor> out;
  std::map<std::string, std::string> metadata{{"format", "hetero-radio-features-v1"}};
  for (size_t i = 0; i < names.size(); ++i) {
    const PatchGrid& g = batch.grids[i];
    out.emplace(names[i], to_safetensor(features.narrow(0, batch.cu_seqlens[i], g.patches())));
    metadata[names[i] + ".grid"] = std::to_string(g.rows) + "x" + std::to_string(g.cols);
  }
  const auto parent = std::filesystem::path(out_path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  write_safetensors(out_path, out, metadata);
  std::cout << "radio-features: " << names.size() << " images, " << features.size(0) << " tokens x "
            << features.size(1) << " -> " << out_path << std::endl;
  return 0;
}

int hf_radio_export(int argc, char** argv) {
  RecipeArgs recipe_args;
  std::string weights, out_dir, layout_name, checkpoint;
  po::options_description desc(
      "hetero-hf radio-export: our vision encoder as a Hugging Face RADIO checkpoint (config.json + "
      "model.safetensors, F32) that transformers' RadioModel.from_pretrained loads; the projector is not part of "
      "RADIO and is left out\nOptions");
  add_recipe_options(desc, recipe_args);
  desc.add_options()
    ("weights", po::value(&weights),
     "weights snapshot with our parameter names (RUN/weights/iter-N/encoder-stage-0.safetensors from "
     "hetero-train --save-weights-at); default: the recipe seed's initial weights")
    ("checkpoint", po::value(&checkpoint), "or: a training checkpoint folder, RUN/checkpoints/iter-N")
    ("out", po::value(&out_dir)->required(), "folder to write")
    ("layout", po::value(&layout_name)->default_value("native"),
     "native (transformers RadioModel names) or legacy (released C-RADIO names, fused attn.qkv)");
  if (!parse_command_line(argc, argv, desc, "hetero-hf radio-export")) return 0;
  if (layout_name != "native" && layout_name != "legacy")
    throw ConfigError("--layout '" + layout_name + "' is not native or legacy");
  const HfRadioLayout layout = layout_name == "native" ? HfRadioLayout::Native : HfRadioLayout::Legacy;
  const Recipe r = load_recipe(recipe_args.recipe, recipe_args.scale, recipe_args.overrides);
  const Group tp = single_process_group(at::kCPU);
  RadioEncoder encoder(r.encoder, r.llm.hidden_size, r.seed, tp, at::kCPU, at::kFloat);
  std::vector<Param> vision;
  for (const Param& p : encoder.params().params())
    if (p.name.rfind("encoder.", 0) == 0) vision.push_back(p);
  if (!weights.empty() && !checkpoint.empty()) throw ConfigError("give --weights or --checkpoint, not both");
  if (!weights.empty()) {
    SnapshotSource source(weights);
    load_params(vision, source);
  }
  if (!checkpoint.empty()) {
    CheckpointSource source(checkpoint);
    load_params(vision, source);
    weights = checkpoint;
  }
  std::map<std::string, at::Tensor> ours;
  for (const Param& p : vision) ours.emplace(p.name, p.value.detach());
  save_hf_radio(out_dir, ours, r.encoder, layout);
  std::cout << "radio-export: " << vision.size() << " encoder tensors ("
            << (weights.empty() ? "seed " + std::to_string(r.seed) : weights) << ") -> " << out_dir
            << "/model.safetensors, config.json (" << layout_name << " names)" << std::endl;
  return 0;
}

}  // namespace hetero
