#include "hf/hf_nemotron_h.h"

#include <algorithm>
#include <iostream>
#include <optional>
#include <regex>
#include <set>

#include "hf/hf_config.h"
#include "hetero/errors.h"
#include "hetero/shape_text.h"
#include "model/mamba_mixer.h"

namespace hetero {
namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

const std::string kOurs = "llm.";

// Our row r of the tensor is HF's row result[r]; empty when the layouts agree.
std::vector<int64_t> rows_in_hf(const std::string& hf_name, const LlmArch& a) {
  if (ends_with(hf_name, ".mixer.in_proj.weight")) return mamba_in_proj_rows_in_hf(mamba_config(a));
  if (ends_with(hf_name, ".mixer.conv1d.weight") || ends_with(hf_name, ".mixer.conv1d.bias"))
    return mamba_conv_channels_in_hf(mamba_config(a));
  return {};
}

// Where a tensor of the model lies in a checkpoint: the key, and for
// experts stored fused ([E, out, in], as transformers 5 holds them in
// memory) the expert's index in it.
struct Stored {
  std::string key;
  int64_t expert = -1;
};

// The keys a checkpoint may use for `hf_name`, in order of preference: the
// name save_pretrained writes, transformers 5's module name ("model." for
// "backbone.", in a state_dict saved directly), the legacy
// "embedding.weight" that transformers still renames, and fused experts.
std::optional<Stored> locate(const HfFolderReader& reader, const std::string& hf_name) {
  std::vector<std::string> names{hf_name};
  if (starts_with(hf_name, "backbone.")) names.push_back("model." + hf_name.substr(9));
  if (ends_with(hf_name, ".embeddings.weight"))
    for (size_t i = 0, n = names.size(); i < n; ++i)
      names.push_back(names[i].substr(0, names[i].size() - 18) + ".embedding.weight");
  for (const std::string& n : names)
    if (reader.has(n)) return Stored{n};
  static const std::regex expert(R"(^(.*\.mixer\.experts)\.(\d+)\.(up_proj|down_proj)\.weight$)");
  for (const std::string& n : names) {
    std::smatch m;
    if (!std::regex_match(n, m, expert)) continue;
    const std::string fused = m[1].str() + "." + m[3].str();
    if (reader.has(fused)) return Stored{fused, std::stoll(m[2].str())};
  }
  return std::nullopt;
}

std::string listing(const std::vector<std::string>& names) {
  std::string s;
  const size_t shown = std::min<size_t>(names.size(), 12);
  for (size_t i = 0; i < shown; ++i) s += (i ? ", " : "") + names[i];
  if (shown < names.size()) s += ", ... (" + std::to_string(names.size()) + " in all)";
  return s;
}

}  // namespace

std::vector<HfTensorSpec> hf_nemotron_h_tensors(const LlmArch& a) {
  const int64_t h = a.hidden_size, v = a.vocab_size;
  const MambaConfig m = mamba_config(a);
  const int64_t q = int64_t{a.num_attention_heads} * a.attention_head_dim();
  const int64_t kv = int64_t{a.num_query_groups} * a.attention_head_dim();
  std::vector<HfTensorSpec> out{{"backbone.embeddings.weight", {v, h}}};
  for (int i = 0; i < a.num_layers; ++i) {
    const std::string layer = "backbone.layers." + std::to_string(i);
    out.push_back({layer + ".norm.weight", {h}});
    const std::string mixer = layer + ".mixer.";
    auto add = [&](const std::string& name, std::vector<int64_t> shape) { out.push_back({mixer + name, shape}); };
    switch (a.hybrid_override_pattern.at(i)) {
      case 'M':
        add("in_proj.weight", {m.in_proj_rows(), h});
        add("conv1d.weight", {m.conv_channels(), 1, m.conv_kernel});
        add("conv1d.bias", {m.conv_channels()});
        add("dt_bias", {m.heads});
        add("A_log", {m.heads});
        add("D", {m.heads});
        add("norm.weight", {m.inner()});
        add("out_proj.weight", {h, m.inner()});
        break;
      case '*':
        add("q_proj.weight", {q, h});
        add("k_proj.weight", {kv, h});
        add("v_proj.weight", {kv, h});
        add("o_proj.weight", {h, q});
        break;
      case '-':
        add("up_proj.weight", {a.ffn_hidden_size, h});
        add("down_proj.weight", {h, a.ffn_hidden_size});
        break;
      case 'E':
        add("gate.weight", {a.num_experts, h});
        add("gate.e_score_correction_bias", {a.num_experts});
        for (int e = 0; e < a.num_experts; ++e) {
          add("experts." + std::to_string(e) + ".up_proj.weight", {a.moe_intermediate_size, h});
          add("experts." + std::to_string(e) + ".down_proj.weight", {h, a.moe_intermediate_size});
        }
        if (a.moe_shared_expert_intermediate_size > 0) {
          add("shared_experts.up_proj.weight", {a.moe_shared_expert_intermediate_size, h});
          add("shared_experts.down_proj.weight", {h, a.moe_shared_expert_intermediate_size});
        }
        break;
      default:
        throw std::invalid_argument("hybrid_override_pattern: layer kind '" +
                                    std::string(1, a.hybrid_override_pattern[i]) + "' is none of M, *, -, E");
    }
  }
  out.push_back({"backbone.norm_f.weight", {h}});
  out.push_back({"lm_head.weight", {v, h}});
  return out;
}

at::Tensor to_hf_layout(const std::string& hf_name, const at::Tensor& ours, const LlmArch& arch) {
  const std::vector<int64_t> rows = rows_in_hf(hf_name, arch);
  if (rows.empty()) return ours;
  // HF row rows[r] is our row r.
  const at::Tensor index = at::tensor(rows, at::kLong).to(ours.device());
  return at::empty_like(ours).index_copy_(0, index, ours);
}

at::Tensor from_hf_layout(const std::string& hf_name, const at::Tensor& theirs, const LlmArch& arch) {
  const std::vector<int64_t> rows = rows_in_hf(hf_name, arch);
  if (rows.empty()) return theirs;
  return theirs.index_select(0, at::tensor(rows, at::kLong).to(theirs.device()));
}

HfNemotronHSource::HfNemotronHSource(const std::string& dir, const LlmArch& arch) : reader_(dir), arch_(arch) {
  check_hf_config(read_hf_config(dir), arch, dir);
  std::set<std::string> used;
  std::vector<std::string> missing, extra, reshaped;
  for (const HfTensorSpec& spec : hf_nemotron_h_tensors(arch)) {
    const auto where = locate(reader_, spec.name);
    if (!where) {
      missing.push_back(spec.name);
      continue;
    }
    used.insert(where->key);
    std::vector<int64_t> stored = reader_.shape(where->key);
    if (where->expert >= 0 && !stored.empty()) stored.erase(stored.begin());  // one expert of a fused tensor
    if (stored != spec.shape)
      reshaped.push_back(where->key + " " + shape_text(stored) + " (the model's: " + shape_text(spec.shape) + ")");
  }
  for (const std::string& name : reader_.names())
    if (!used.count(name)) (starts_with(name, "mtp.") ? ignored_ : extra).push_back(name);
  ProblemList p;
  if (!missing.empty())
    p.add(dir + " lacks " + std::to_string(missing.size()) + " tensor(s) of the model: " + listing(missing) +
          "; the checkpoint is incomplete or of another architecture than its config.json");
  if (!reshaped.empty())
    p.add(dir + " holds " + std::to_string(reshaped.size()) + " tensor(s) of another shape than the model's: " +
          listing(reshaped) + "; its weights do not fit the architecture its config.json names");
  if (!extra.empty())
    p.add(dir + " holds " + std::to_string(extra.size()) + " tensor(s) this model has no place for: " +
          listing(extra) + "; they belong to parts our forward does not compute (config.json and the weights "
          "disagree, or the checkpoint is of another model)");
  p.throw_if_any();
}

std::string HfNemotronHSource::describe() const { return "Hugging Face checkpoint " + reader_.dir(); }

at::Tensor HfNemotronHSource::full(const std::string& name) {
  if (!starts_with(name, kOurs)) return {};
  const std::string hf_name = name.substr(kOurs.size());
  const auto where = locate(reader_, hf_name);
  if (!where) return {};
  at::Tensor t = reader_.read(where->key);
  if (where->expert >= 0) t = t.select(0, where->expert).contiguous();
  return from_hf_layout(hf_name, t, arch_);
}

void load_hf_nemotron_h(LanguageModel& llm, const std::string& dir, const LlmArch& arch) {
  HfNemotronHSource source(dir, arch);
  load_params(llm.params().params(), source);
  load_buffers(llm.buffers(), source);
  // One line per pipeline lane's first rank (the embedding's first tp shard).
  const auto& params = llm.params().params();
  if (llm.first_stage() && !params.empty() && params.front().shard == 0) {
    std::cout << "hetero: LLM weights from Hugging Face checkpoint " << dir << std::endl;
    if (!source.ignored().empty())
      std::cout << "hetero: " << dir << ": not loaded, as transformers' NemotronHForCausalLM does not: "
                << source.ignored().size() << " multi-token-prediction tensor(s) (" << listing(source.ignored())
                << ")" << std::endl;
  }
}

}  // namespace hetero
