// hetero-hf llm-logits: our LLM's forward, in one process, on given tokens:
// embedding -> layers -> final norm -> output layer, from a Hugging Face
// NemotronH checkpoint (--hf) or a weight snapshot (--run, --iter). The
// logits [B, S, vocab] (fp32) go to a safetensors file, to be compared with
// transformers' NemotronHForCausalLM on the same checkpoint
// (scripts/hf_llm_check.py).
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include <boost/program_options.hpp>

#include "hf/hf_nemotron_h.h"
#include "checkpoint/snapshot_source.h"
#include "checkpoint/tensor_io.h"
#include "data/sample.h"
#include "hetero/cli.h"
#include "hetero/errors.h"
#include "hetero/safetensors.h"
#include "model/language_model.h"
#include "tools/hf_commands.h"
#include "tools/single_process.h"

namespace hetero {
namespace {

namespace po = boost::program_options;

// "1,2,3;4,5,6" (or one row per line, ids separated by commas or spaces):
// B rows of S ids each.
std::vector<std::vector<int64_t>> parse_tokens(const std::string& text, int vocab) {
  std::vector<std::vector<int64_t>> rows;
  std::string norm = text;
  for (char& c : norm) c = c == '\n' ? ';' : (c == ',' || c == '\t' || c == '\r') ? ' ' : c;
  std::stringstream all(norm);
  std::string row_text;
  while (std::getline(all, row_text, ';')) {
    std::stringstream row(row_text);
    std::vector<int64_t> ids;
    std::string item;
    while (row >> item) {
      size_t used = 0;
      int64_t id = -1;
      try {
        id = std::stoll(item, &used);
      } catch (const std::exception&) {
      }
      if (used != item.size() || id < 0 || id >= vocab)
        throw ConfigError("--tokens: '" + item + "' is not a token id in [0, vocab_size=" + std::to_string(vocab) + ")");
      // Our embedding replaces the image placeholder's rows by image
      // embeddings: without images, the id cannot be embedded.
      if (id == kImagePlaceholder)
        throw ConfigError("--tokens: id " + std::to_string(id) + " is our image placeholder (its rows are image "
                          "embeddings); use ids from 1 to " + std::to_string(vocab - 1));
      ids.push_back(id);
    }
    if (ids.empty()) continue;
    if (!rows.empty() && ids.size() != rows.front().size())
      throw ConfigError("--tokens: every row needs the same length; row " + std::to_string(rows.size() + 1) + " has " +
                        std::to_string(ids.size()) + " ids, row 1 has " + std::to_string(rows.front().size()));
    rows.push_back(ids);
  }
  if (rows.empty()) throw ConfigError("--tokens: no token ids given");
  return rows;
}

}  // namespace

int hf_llm_logits(int argc, char** argv) {
  RecipeArgs recipe_args;
  std::string hf, run, tokens_text, tokens_file, out, device_name, dtype;
  int iter = -1;
  po::options_description desc(
      "hetero-hf llm-logits: our LLM's logits for given tokens, from a Hugging Face NemotronH checkpoint or a weight "
      "snapshot (one process)\nOptions");
  add_recipe_options(desc, recipe_args);
  desc.add_options()
    ("hf", po::value(&hf), "a Hugging Face NemotronH checkpoint folder")
    ("run", po::value(&run), "or: a run directory with a weight snapshot (hetero-train --save-weights-at N)...")
    ("iter", po::value(&iter), "...of iteration N")
    ("tokens", po::value(&tokens_text), "token ids, rows separated by ';', e.g. \"1,2,3;4,5,6\"")
    ("tokens-file", po::value(&tokens_file), "or: a file of token ids, one row per line")
    ("out", po::value(&out)->required(), "the safetensors file to write: logits [B, S, vocab] fp32, tokens [B, S]")
    ("device", po::value(&device_name)->default_value("cpu"), "cpu or cuda")
    ("dtype", po::value(&dtype)->default_value("fp32"), "compute dtype: fp32 or bf16 (weights stay fp32)");
  if (!parse_command_line(argc, argv, desc, "hetero-hf llm-logits")) return 0;
  if (hf.empty() == run.empty()) throw ConfigError("give exactly one of --hf DIR and --run RUN --iter N");
  if (!run.empty() && iter < 0) throw ConfigError("--run needs --iter N, the iteration of the snapshot");
  if (tokens_text.empty() == tokens_file.empty()) throw ConfigError("give exactly one of --tokens and --tokens-file");
  const at::ScalarType compute = parse_compute_dtype(dtype);
  if (!tokens_file.empty()) {
    std::ifstream in(tokens_file);
    if (!in) throw ConfigError("--tokens-file " + tokens_file + " cannot be read");
    std::stringstream s;
    s << in.rdbuf();
    tokens_text = s.str();
  }

  const Recipe recipe = load_recipe(recipe_args.recipe, recipe_args.scale, recipe_args.overrides);
  const LlmArch& arch = recipe.llm;
  const auto rows = parse_tokens(tokens_text, arch.vocab_size);
  const at::Device device = parse_device(device_name);
  const ModuleGroups groups = single_process_groups(device);
  LanguageModel llm(arch, recipe.seed, groups, /*stage=*/0, /*num_stages=*/1, device,
                    compute);
  std::string source;
  if (!hf.empty()) {
    load_hf_nemotron_h(llm, hf, arch);
    source = hf;
  } else {
    SnapshotSource snapshot(run, iter);
    load_params(llm.params().params(), snapshot);
    load_buffers(llm.buffers(), snapshot);
    source = snapshot.describe();
  }

  const int64_t b = static_cast<int64_t>(rows.size()), s = static_cast<int64_t>(rows.front().size());
  std::vector<int64_t> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  const at::Tensor tokens = at::tensor(flat, at::kLong).view({b, s}).to(device);
  at::Tensor logits;
  {
    at::NoGradGuard no_grad;
    const at::Tensor hidden = llm.layers(llm.embed(tokens, at::Tensor()), 1.0 / static_cast<double>(b));
    logits = llm.logits(hidden).to(at::kCPU, at::kFloat).contiguous();
  }

  std::map<std::string, SafeTensor> file;
  file.emplace("logits", to_safetensor(logits));
  SafeTensor t;
  t.shape = {b, s};
  for (int64_t id : flat) t.values.push_back(static_cast<float>(id));  // ids < 2^24: exact in fp32
  file.emplace("tokens", std::move(t));
  write_safetensors(out, file,
                    {{"source", source}, {"recipe", recipe.file}, {"dtype", dtype}, {"device", device_name}});
  std::cout << "hetero-hf llm-logits: " << out << ": logits [" << b << ", " << s << ", " << arch.vocab_size
            << "] from " << source << std::endl;
  return 0;
}

}  // namespace hetero
