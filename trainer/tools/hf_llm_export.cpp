// hetero-hf llm-export: a training checkpoint (RUN/checkpoints/iter-N) or a
// weight snapshot of hetero-train --save-weights-at N (any layout wrote
// either: the tensors are reassembled in full) as a Hugging Face
// NemotronH checkpoint folder that NemotronHForCausalLM.from_pretrained
// loads: config.json from the recipe's architecture, the weights in HF's
// names and layout, fp32 (exact) or bf16.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

#include <boost/program_options.hpp>

#include "hf/hf_config.h"
#include "hf/hf_folder.h"
#include "hf/hf_nemotron_h.h"
#include "checkpoint/checkpoint_source.h"
#include "checkpoint/snapshot_source.h"
#include "checkpoint/tensor_io.h"
#include "hetero/cli.h"
#include "hetero/errors.h"
#include "hetero/shape_text.h"
#include "tools/hf_commands.h"

namespace hetero {
namespace {

namespace po = boost::program_options;

}  // namespace

int hf_llm_export(int argc, char** argv) {
  RecipeArgs recipe_args;
  std::string run, out, dtype, checkpoint;
  int iter = -1;
  double max_shard_mb = 0;
  po::options_description desc(
      "hetero-hf llm-export: write an LLM weight snapshot (hetero-train --save-weights-at N) as a Hugging Face "
      "NemotronH checkpoint\nOptions");
  add_recipe_options(desc, recipe_args);
  desc.add_options()
    ("checkpoint", po::value(&checkpoint), "a training checkpoint folder, RUN/checkpoints/iter-N")
    ("run", po::value(&run), "or: the run directory whose weight snapshot RUN/weights/iter-N to export")
    ("iter", po::value(&iter), "the snapshot's iteration N (with --run)")
    ("out", po::value(&out)->required(), "the checkpoint folder to write (config.json, model*.safetensors)")
    ("dtype", po::value(&dtype)->default_value("fp32"), "fp32 (exact) or bf16 (the score-correction biases stay fp32)")
    ("max-shard-mb", po::value(&max_shard_mb)->default_value(5000),
     "shard the weights into model-0000i-of-0000n.safetensors of at most this many MB each");
  if (!parse_command_line(argc, argv, desc, "hetero-hf llm-export")) return 0;
  if (dtype != "fp32" && dtype != "bf16") throw ConfigError("--dtype '" + dtype + "' is not one of fp32, bf16");
  if (max_shard_mb <= 0) throw ConfigError("--max-shard-mb must be positive");

  const LlmArch arch = load_recipe(recipe_args.recipe, recipe_args.scale, recipe_args.overrides).llm;
  const nlohmann::json config = hf_config_for(arch, dtype == "bf16" ? "bfloat16" : "float32");
  // What transformers could not run the same way (e.g. a softmax router) fails here.
  check_hf_config(config, arch, out);

  if (checkpoint.empty() == run.empty() || (!run.empty() && iter < 0))
    throw ConfigError("give either --checkpoint RUN/checkpoints/iter-N or --run RUN --iter N (a weight snapshot)");
  std::unique_ptr<WeightSource> source;
  std::vector<std::string> names;
  if (!checkpoint.empty()) {
    auto c = std::make_unique<CheckpointSource>(checkpoint);
    names = c->weight_names("llm.");
    source = std::move(c);
  } else {
    auto s = std::make_unique<SnapshotSource>(run, iter);
    names = s->names();
    source = std::move(s);
  }
  WeightSource& snapshot = *source;
  std::vector<std::pair<std::string, SafeTensor>> tensors;
  std::vector<std::string> missing, reshaped;
  std::set<std::string> exported;
  for (const HfTensorSpec& spec : hf_nemotron_h_tensors(arch)) {
    const std::string ours = "llm." + spec.name;
    const at::Tensor t = snapshot.full(ours);
    if (!t.defined()) {
      missing.push_back(ours);
      continue;
    }
    if (t.sizes().vec() != spec.shape) {
      reshaped.push_back(ours + " " + shape_text(t.sizes().vec()) + " (the recipe's: " + shape_text(spec.shape) + ")");
      continue;
    }
    exported.insert(ours);
    // transformers keeps the correction bias in fp32 (_keep_in_fp32_modules_strict).
    const bool bias = spec.name.find("e_score_correction_bias") != std::string::npos;
    tensors.emplace_back(spec.name, to_safetensor(to_hf_layout(spec.name, t, arch), dtype == "bf16" && !bias ? "BF16" : "F32"));
  }
  std::vector<std::string> unexpected;
  for (const std::string& name : names)
    if (!exported.count(name)) unexpected.push_back(name);
  ProblemList p;
  const std::string fix = "; give the --recipe, --scale and --set of the run that wrote it";
  auto list = [](const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size() && i < 12; ++i) s += (i ? ", " : "") + v[i];
    return v.size() > 12 ? s + ", ... (" + std::to_string(v.size()) + " in all)" : s;
  };
  if (!missing.empty())
    p.add(snapshot.describe() + " lacks " + std::to_string(missing.size()) + " tensor(s) of the recipe's LLM: " +
          list(missing) + fix + " (a snapshot written before MoE score-correction biases were saved lacks them: "
          "take a new one with hetero-train --save-weights-at " + std::to_string(iter) + ")");
  if (!reshaped.empty()) p.add(snapshot.describe() + " holds tensors of other shapes: " + list(reshaped) + fix);
  if (!unexpected.empty())
    p.add(snapshot.describe() + " holds tensors the recipe's LLM does not have: " + list(unexpected) + fix);
  p.throw_if_any();

  std::filesystem::create_directories(out);
  std::ofstream(out + "/config.json") << config.dump(2) << "\n";
  write_hf_weights(out, tensors, static_cast<std::uint64_t>(max_shard_mb * 1e6));
  std::cout << "hetero-hf llm-export: " << out << ": " << tensors.size() << " tensors (" << dtype << ") from "
            << snapshot.describe() << std::endl;
  return 0;
}

}  // namespace hetero
