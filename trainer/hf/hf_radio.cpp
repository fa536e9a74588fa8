#include "hf/hf_radio.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <tuple>

#include <ATen/core/grad_mode.h>

#include "checkpoint/tensor_io.h"
#include "hetero/errors.h"
#include "hetero/safetensors.h"
#include "hetero/shape_text.h"

namespace fs = std::filesystem;

namespace hetero {
namespace {

using nlohmann::json;

const char* const kNativeAnchor = "embeddings.patch_projection.weight";
const char* const kLegacyAnchor = "model.patch_generator.embedder.weight";

std::string num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// Nine significant digits: a float32 mean/std written back into a recipe
// reads as the same float.
std::string list_text(const std::vector<double>& v) {
  std::ostringstream os;
  os.precision(9);
  os << "[";
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  os << "]";
  return os.str();
}

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

// Where the blocks live, relative to the checkpoint's prefix.
std::string block_root(HfRadioLayout layout) {
  return layout == HfRadioLayout::Native ? "encoder.layer." : "model.blocks.";
}

// Our activation name for transformers' hidden_act ("" when we have none).
std::string our_activation(const std::string& hf) {
  if (hf == "gelu") return "gelu";
  if (hf == "gelu_pytorch_tanh" || hf == "gelu_new") return "gelu_tanh";
  if (hf == "relu2") return "squared_relu";
  return "";
}

std::string hf_activation(const std::string& ours) {
  if (ours == "gelu") return "gelu";
  if (ours == "gelu_tanh") return "gelu_pytorch_tanh";
  return "relu2";  // squared_relu
}

// The input conditioner as the checkpoint stores it ([C, 1, 1] each):
// identity when the recipe has none.
std::pair<std::vector<double>, std::vector<double>> conditioner(const EncoderArch& a) {
  if (!a.pixel_mean.empty()) return {a.pixel_mean, a.pixel_std};
  return {std::vector<double>(a.channels, 0.0), std::vector<double>(a.channels, 1.0)};
}

bool close(double a, double b) { return std::abs(a - b) <= 1e-6 * std::max({1.0, std::abs(a), std::abs(b)}); }

json read_json(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw ConfigError("cannot read " + file.string());
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw ConfigError(file.string() + " is not valid JSON: " + e.what());
  }
}

}  // namespace

HfRadioName hf_radio_name(const std::string& ours, HfRadioLayout layout) {
  const bool legacy = layout == HfRadioLayout::Legacy;
  if (ours == "encoder.patch_embed.weight")
    return {legacy ? "model.patch_generator.embedder.weight" : "embeddings.patch_projection.weight"};
  if (ours == "encoder.pos_embed") return {legacy ? "model.patch_generator.pos_embed" : "embeddings.position_embedding"};
  if (ours == "encoder.summary_tokens")
    return {legacy ? "model.patch_generator.cls_token.token" : "embeddings.cls_register_token"};
  if (ours == "encoder.final_norm.weight") return {legacy ? "model.norm.weight" : ""};
  if (ours == "encoder.final_norm.bias") return {legacy ? "model.norm.bias" : ""};
  static const std::regex block(R"(^encoder\.blocks\.(\d+)\.(.+)\.(weight|bias)$)");
  std::smatch m;
  if (!std::regex_match(ours, m, block)) return {};
  const std::string root = block_root(layout) + m[1].str() + ".", module = m[2].str(), what = "." + m[3].str();
  struct Row {
    const char* ours;
    const char* native;
    const char* legacy;
    int part;
  };
  static const Row rows[] = {
      {"attn_norm", "norm1", "norm1", -1},
      {"attn.q_proj", "attention.attention.query", "attn.qkv", 0},
      {"attn.k_proj", "attention.attention.key", "attn.qkv", 1},
      {"attn.v_proj", "attention.attention.value", "attn.qkv", 2},
      {"attn.o_proj", "attention.output.dense", "attn.proj", -1},
      {"mlp_norm", "norm2", "norm2", -1},
      {"mlp.up_proj", "mlp.fc1", "mlp.fc1", -1},
      {"mlp.down_proj", "mlp.fc2", "mlp.fc2", -1},
  };
  for (const Row& r : rows)
    if (module == r.ours) return {root + (legacy ? r.legacy : r.native) + what, legacy ? r.part : -1};
  return {};
}

std::vector<std::string> hf_radio_arch_problems(const EncoderArch& a, HfRadioLayout layout) {
  std::vector<std::string> p;
  if (a.norm != "layernorm")
    p.push_back("model.encoder.norm=" + a.norm + ", but RADIO's blocks use LayerNorm (weight and bias); set --set "
                "model.encoder.norm=layernorm");
  if (a.position_interpolation != "square_crop")
    p.push_back("model.encoder.position_interpolation=" + a.position_interpolation +
                ", but RADIO crops its position table (CPE: resize to the longer side's square, keep the top-left "
                "grid); set --set model.encoder.position_interpolation=square_crop");
  if (layout == HfRadioLayout::Native && a.final_norm)
    p.push_back("model.encoder.final_norm=true, but transformers' RadioModel has no norm after its last layer; set "
                "--set model.encoder.final_norm=false");
  return p;
}

std::map<std::string, at::Tensor> to_hf_radio(const std::map<std::string, at::Tensor>& ours_in, const EncoderArch& a,
                                              HfRadioLayout layout) {
  std::map<std::string, at::Tensor> ours;
  for (const auto& [name, t] : ours_in)
    if (starts_with(name, "encoder.")) ours.emplace(name, t.detach().to(at::kCPU, at::kFloat).contiguous());
  for (int i = 0; i < a.num_layers; ++i) {
    // Zeros compute the same: for the key bias always (the softmax cancels
    // it, so our blocks have none), for every bias without arch.bias.
    const std::string b = "encoder.blocks." + std::to_string(i) + ".";
    ours.emplace(b + "attn.k_proj.bias", at::zeros({a.hidden_size}));
    if (a.bias) continue;
    for (const char* m : {"attn.q_proj", "attn.v_proj", "attn.o_proj", "mlp.down_proj"})
      ours.emplace(b + m + ".bias", at::zeros({a.hidden_size}));
    ours.emplace(b + "mlp.up_proj.bias", at::zeros({a.ffn_hidden_size}));
  }
  const std::string prefix = layout == HfRadioLayout::Legacy ? "radio_model." : "";
  std::map<std::string, at::Tensor> out;
  std::map<std::string, std::array<at::Tensor, 3>> fused;
  for (const auto& [name, t] : ours) {
    const HfRadioName n = hf_radio_name(name, layout);
    if (n.name.empty())
      throw ConfigError("parameter " + name + " has no place in a Hugging Face RADIO checkpoint" +
                        (starts_with(name, "encoder.final_norm") ? " (transformers' RadioModel has no final norm; "
                                                                   "set --set model.encoder.final_norm=false)"
                                                                 : ""));
    if (n.part >= 0) {
      fused[n.name][n.part] = t;
    } else if (name == "encoder.pos_embed") {
      out[prefix + n.name] = t.reshape({1, t.size(0) * t.size(1), t.size(2)});
    } else {
      out[prefix + n.name] = t;
    }
  }
  for (auto& [name, parts] : fused) {
    for (int k = 0; k < 3; ++k)
      if (!parts[k].defined())
        throw std::invalid_argument("to_hf_radio: " + name + " lacks its " + std::string("qkv").substr(k, 1) +
                                    " rows; pass every encoder tensor");
    out[prefix + name] = at::cat({parts[0], parts[1], parts[2]}, 0);
  }
  const auto [mean, stdev] = conditioner(a);
  out[prefix + "input_conditioner.norm_mean"] = at::tensor(mean, at::kDouble).to(at::kFloat).view({-1, 1, 1});
  out[prefix + "input_conditioner.norm_std"] = at::tensor(stdev, at::kDouble).to(at::kFloat).view({-1, 1, 1});
  if (layout == HfRadioLayout::Native)
    for (int i = 0; i < a.num_layers; ++i)
      for (const char* s : {"layer_scale1", "layer_scale2"})
        out["encoder.layer." + std::to_string(i) + "." + s + ".lambda1"] = at::ones({a.hidden_size});
  return out;
}

json hf_radio_config(const EncoderArch& a) {
  ProblemList problems;
  for (auto& p : hf_radio_arch_problems(a, HfRadioLayout::Native)) problems.add(p);
  const double ratio = static_cast<double>(a.ffn_hidden_size) / a.hidden_size;
  if (static_cast<int64_t>(a.hidden_size * ratio) != a.ffn_hidden_size)
    problems.add("model.encoder.ffn_hidden_size=" + std::to_string(a.ffn_hidden_size) +
                 " is not int(hidden_size * mlp_ratio) for any float mlp_ratio, as RadioConfig defines it");
  problems.throw_if_any();
  const auto [mean, stdev] = conditioner(a);
  std::vector<int> summary_idxs;
  for (int i = 0; i < std::min(2, a.num_cls_tokens); ++i) summary_idxs.push_back(i);
  return json{{"architectures", {"RadioModel"}},
              {"model_type", "radio"},
              {"hidden_size", a.hidden_size},
              {"num_hidden_layers", a.num_layers},
              {"num_attention_heads", a.num_attention_heads},
              {"mlp_ratio", ratio},
              {"hidden_act", hf_activation(a.mlp_activation)},
              {"layer_norm_eps", a.norm_eps},
              {"attention_probs_dropout_prob", 0.0},
              {"hidden_dropout_prob", 0.0},
              {"drop_path_rate", 0.0},
              {"use_swiglu_ffn", false},
              {"qkv_bias", true},
              {"layerscale_value", 1.0},
              {"num_channels", a.channels},
              {"patch_size", a.patch_size},
              {"max_img_size", a.position_table_side * a.patch_size},
              {"num_cls_tokens", a.num_cls_tokens},
              {"num_registers", a.num_registers},
              {"summary_idxs", summary_idxs},
              {"norm_mean", mean},
              {"norm_std", stdev},
              {"initializer_range", 0.02},
              {"dtype", "float32"}};
}

void save_hf_radio(const std::string& dir, const std::map<std::string, at::Tensor>& ours, const EncoderArch& a,
                   HfRadioLayout layout) {
  const json config = hf_radio_config(a);
  const auto tensors = to_hf_radio(ours, a, layout);
  std::vector<std::pair<std::string, SafeTensor>> st;
  for (const auto& [name, t] : tensors) st.emplace_back(name, to_safetensor(t));
  // One file: an encoder is far below any sensible shard size.
  write_hf_weights(dir, st, std::numeric_limits<std::uint64_t>::max());
  std::ofstream(dir + "/config.json") << config.dump(2) << "\n";
}

// ---------------------------------------------------------------------------

HfRadioCheckpoint::HfRadioCheckpoint(const std::string& path, const EncoderArch& arch)
    : path_(path), arch_(arch), reader_(path) {
  const fs::path p(path);
  const fs::path config = (fs::is_regular_file(p) ? p.parent_path() : p) / "config.json";
  if (fs::exists(config)) config_ = config.string();
  const std::vector<std::string> names = reader_.names();

  // The layout and the prefix, from the patch embedding's name.
  std::vector<std::string> anchors;
  for (const std::string& name : names) {
    if (ends_with(name, kNativeAnchor)) {
      anchors.push_back(name);
      layout_ = HfRadioLayout::Native;
      prefix_ = name.substr(0, name.size() - std::string(kNativeAnchor).size());
    } else if (ends_with(name, kLegacyAnchor)) {
      anchors.push_back(name);
      layout_ = HfRadioLayout::Legacy;
      prefix_ = name.substr(0, name.size() - std::string(kLegacyAnchor).size());
    }
  }
  if (anchors.size() != 1) {
    std::string some;
    int k = 0;
    for (const std::string& name : names) {
      if (k++ == 8) break;
      some += (some.empty() ? "" : ", ") + name;
    }
    throw ConfigError(describe() + (anchors.empty() ? " holds no RADIO patch embedding" : " holds several RADIO "
                                                                                            "patch embeddings") +
                      " (a tensor named [prefix]" + kNativeAnchor + " for transformers' RadioModel or [prefix]" +
                      kLegacyAnchor + " for a released C-RADIO checkpoint" +
                      (anchors.empty() ? "" : "; found " + std::to_string(anchors.size())) +
                      "); is this a RADIO checkpoint? Its first tensors: " + some);
  }

  ProblemList problems;
  for (auto& m : hf_radio_arch_problems(arch, layout_)) problems.add(describe() + ": " + m);
  if (!arch.bias)
    problems.add(describe() + ": model.encoder.bias=false, but RADIO's linear layers have biases; set --set "
                 "model.encoder.bias=true");

  // config.json: every field it gives against the recipe. Fields a legacy
  // config lacks are checked through the tensors' shapes instead.
  if (!config_.empty()) try {
    const json c = read_json(config_);
    const std::string where = config_;
    auto mismatch = [&](const std::string& key, const std::string& theirs, const std::string& our_key,
                        const std::string& ours, const std::string& fix) {
      problems.add(where + ": " + key + "=" + theirs + " but model.encoder." + our_key + "=" + ours + "; set --set " +
                   fix + " to load this checkpoint");
    };
    auto get_int = [&](const char* key, int& out) {
      if (!c.contains(key) || !c[key].is_number()) return false;
      out = static_cast<int>(c[key].get<double>());
      return true;
    };
    if (c.contains("model_type") && c["model_type"] != "radio")
      problems.add(where + ": model_type=" + c["model_type"].dump() + " is not radio; pass a RADIO checkpoint");
    auto same_int = [&](const char* key, const char* our_key, int ours) {
      int v = 0;
      if (get_int(key, v) && v != ours)
        mismatch(key, std::to_string(v), our_key, std::to_string(ours),
                 std::string("model.encoder.") + our_key + "=" + std::to_string(v));
    };
    same_int("hidden_size", "hidden_size", arch.hidden_size);
    same_int("num_hidden_layers", "num_layers", arch.num_layers);
    same_int("num_attention_heads", "num_attention_heads", arch.num_attention_heads);
    same_int("num_channels", "channels", arch.channels);
    same_int("patch_size", "patch_size", arch.patch_size);
    same_int("num_cls_tokens", "num_cls_tokens", arch.num_cls_tokens);
    same_int("num_registers", "num_registers", arch.num_registers);
    int hidden = arch.hidden_size, patch = arch.patch_size, max_img = 0;
    get_int("hidden_size", hidden);
    get_int("patch_size", patch);
    if (c.contains("mlp_ratio") && c["mlp_ratio"].is_number()) {
      const int ffn = static_cast<int>(static_cast<int64_t>(hidden * c["mlp_ratio"].get<double>()));
      if (ffn != arch.ffn_hidden_size)
        mismatch("mlp_ratio", num(c["mlp_ratio"].get<double>()) + " (FFN width " + std::to_string(ffn) + ")",
                 "ffn_hidden_size", std::to_string(arch.ffn_hidden_size),
                 "model.encoder.ffn_hidden_size=" + std::to_string(ffn));
    }
    if (get_int("max_img_size", max_img) && patch > 0 && max_img / patch != arch.position_table_side)
      mismatch("max_img_size", std::to_string(max_img) + " (a " + std::to_string(max_img / patch) +
                                   "-patch position table at patch_size " + std::to_string(patch) + ")",
               "position_table_side", std::to_string(arch.position_table_side),
               "model.encoder.position_table_side=" + std::to_string(max_img / patch));
    // Settings with RadioConfig's defaults when absent.
    const std::string act = c.value("hidden_act", std::string("gelu"));
    if (our_activation(act).empty())
      problems.add(where + ": hidden_act=" + act + " is not an activation our blocks compute (gelu, "
                   "gelu_pytorch_tanh, gelu_new, relu2)");
    else if (our_activation(act) != arch.mlp_activation)
      mismatch("hidden_act", act, "mlp_activation", arch.mlp_activation,
               "model.encoder.mlp_activation=" + our_activation(act));
    const double eps = c.contains("layer_norm_eps") && c["layer_norm_eps"].is_number()
                           ? c["layer_norm_eps"].get<double>()
                           : 1e-6;
    if (!close(eps, arch.norm_eps))
      mismatch("layer_norm_eps", num(eps), "norm_eps", num(arch.norm_eps), "model.encoder.norm_eps=" + num(eps));
    if (c.value("use_swiglu_ffn", false))
      problems.add(where + ": use_swiglu_ffn=true: our blocks have a two-layer MLP (fc1, activation, fc2), not "
                   "SwiGLU; this checkpoint cannot be loaded");
    const double ls = c.contains("layerscale_value") && c["layerscale_value"].is_number()
                          ? c["layerscale_value"].get<double>()
                          : 1.0;
    if (ls != 1.0 && !has(prefix_ + block_root(layout_) + "0.layer_scale1.lambda1"))
      problems.add(where + ": layerscale_value=" + num(ls) + " with no layer_scale tensors: our blocks have no layer "
                   "scale (C-RADIO's is 1)");
    // The input conditioner: both lists or none.
    const auto [mean, stdev] = conditioner(arch);
    auto list = [&](const char* key, const std::vector<double>& fallback) {
      if (!c.contains(key) || !c[key].is_array()) return fallback;
      std::vector<double> v;
      for (const auto& x : c[key]) v.push_back(x.is_number() ? x.get<double>() : NAN);
      return v;
    };
    const std::vector<double> their_mean = list("norm_mean", mean), their_std = list("norm_std", stdev);
    auto same = [](const std::vector<double>& a, const std::vector<double>& b) {
      bool ok = a.size() == b.size();
      for (size_t i = 0; ok && i < a.size(); ++i) ok = close(a[i], b[i]);
      return ok;
    };
    if (!same(their_mean, mean) || !same(their_std, stdev))
      problems.add(where + ": norm_mean=" + list_text(their_mean) + ", norm_std=" + list_text(their_std) +
                   " (the input conditioner) but model.encoder.pixel_mean/pixel_std are " +
                   (arch.pixel_mean.empty() ? "not given (pixels go in unchanged)"
                                            : list_text(mean) + " / " + list_text(stdev)) +
                   "; set --set 'model.encoder.pixel_mean=" + list_text(their_mean) +
                   "' --set 'model.encoder.pixel_std=" + list_text(their_std) + "'");
  } catch (const json::exception& e) {
    problems.add(config_ + ": a field has an unexpected type (" + e.what() + ")");
  }

  // The tensors that are not parameters: the conditioner and layer scales.
  const auto [mean, stdev] = conditioner(arch);
  for (const auto& [key, ours, our_key] : {std::tuple<std::string, std::vector<double>, const char*>{
                                               "input_conditioner.norm_mean", mean, "pixel_mean"},
                                           {"input_conditioner.norm_std", stdev, "pixel_std"}}) {
    if (!has(prefix_ + key)) continue;
    const at::Tensor t = read(prefix_ + key).flatten();
    bool same = t.numel() == static_cast<int64_t>(ours.size());
    for (int64_t i = 0; same && i < t.numel(); ++i) same = close(t[i].item<double>(), ours[i]);
    if (!same) {
      std::vector<double> theirs(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
      problems.add(describe() + ": tensor " + prefix_ + key + " is " + list_text(theirs) + " but model.encoder." +
                   our_key + " is " + (arch.pixel_mean.empty() ? "not given (identity)" : list_text(ours)) +
                   "; set --set 'model.encoder." + our_key + "=" + list_text(theirs) + "'");
    }
  }
  const std::regex scale_re(R"(\.(layer_scale[12]\.lambda1|ls[12]\.gamma)$)");
  for (const std::string& name : names) {
    if (!starts_with(name, prefix_) || !std::regex_search(name, scale_re)) continue;
    const at::Tensor t = read(name);
    if (!at::equal(t, at::ones_like(t)))
      problems.add(describe() + ": layer scale " + name + " is not all ones (max |x-1| = " +
                   num((t - 1).abs().max().item<double>()) + "); our blocks have no layer scale, so this checkpoint "
                   "cannot be loaded");
  }

  // Depth, summary tokens and final norm from the tensors themselves.
  int layers = 0;
  const std::regex layer_re("^" + std::regex_replace(prefix_ + block_root(layout_), std::regex(R"([.])"), R"(\.)") +
                            R"((\d+)\.)");
  for (const std::string& name : names) {
    std::smatch m;
    if (std::regex_search(name, m, layer_re)) layers = std::max(layers, std::stoi(m[1].str()) + 1);
  }
  if (layers != arch.num_layers)
    problems.add(describe() + " has " + std::to_string(layers) + " layers (" + prefix_ + block_root(layout_) +
                 "0.." + std::to_string(layers - 1) + ") but model.encoder.num_layers=" +
                 std::to_string(arch.num_layers) + "; set --set model.encoder.num_layers=" + std::to_string(layers));
  const std::string tokens = prefix_ + hf_radio_name("encoder.summary_tokens", layout_).name;
  if (has(tokens)) {
    const int64_t n = reader_.shape(tokens).at(0);
    if (n != arch.num_cls_tokens + arch.num_registers)
      problems.add(describe() + ": " + tokens + " holds " + std::to_string(n) + " class + register tokens but "
                   "model.encoder.num_cls_tokens + num_registers = " +
                   std::to_string(arch.num_cls_tokens + arch.num_registers) +
                   "; set both to the checkpoint's (config.json num_cls_tokens, num_registers)");
  }
  if (layout_ == HfRadioLayout::Legacy) {
    const std::string norm = prefix_ + "model.norm.weight";
    if (has(norm) && !arch.final_norm)
      problems.add(describe() + " has a final norm (" + norm + ") but model.encoder.final_norm=false; set --set "
                   "model.encoder.final_norm=true");
    if (!has(norm) && arch.final_norm)
      problems.add(describe() + " has no final norm (" + norm + ") but model.encoder.final_norm=true; set --set "
                   "model.encoder.final_norm=false");
  }
  problems.throw_if_any();
  qkv_bias_ = has(prefix_ + hf_radio_name("encoder.blocks.0.attn.q_proj.bias", layout_).name);
}

std::string HfRadioCheckpoint::describe() const { return "Hugging Face RADIO checkpoint " + path_; }

at::Tensor HfRadioCheckpoint::read(const std::string& key) const { return has(key) ? reader_.read(key) : at::Tensor(); }

at::Tensor HfRadioCheckpoint::full(const std::string& ours) {
  const HfRadioName n = hf_radio_name(ours, layout_);
  if (n.name.empty()) return {};
  const std::string key = prefix_ + n.name;
  last_key_ = key;
  if (!has(key)) {
    static const std::regex qkv_bias(R"(\.attn\.[qkv]_proj\.bias$)");
    if (!qkv_bias_ && std::regex_search(ours, qkv_bias)) return at::zeros({arch_.hidden_size});  // qkv_bias=false
    throw std::runtime_error(describe() + " has no tensor '" + key + "' (for our " + ours +
                             "); the checkpoint is incomplete or is not a RADIO model of this recipe's encoder "
                             "architecture (model.encoder in the recipe)");
  }
  used_[key] = true;
  at::Tensor t = read(key);
  if (n.part >= 0) {
    if (t.dim() < 1 || t.size(0) % 3 != 0)
      throw std::runtime_error(describe() + ": fused " + key + " has shape " + shape_text(t.sizes()) +
                               ", whose rows are not three equal blocks (q; k; v)");
    t = t.chunk(3, 0)[n.part];
  }
  if (ours == "encoder.pos_embed") {
    const int64_t side = arch_.position_table_side;
    if (t.dim() != 3 || t.size(0) != 1 || t.size(1) != side * side) {
      const int64_t positions = t.dim() == 3 ? t.size(1) : -1;
      const auto root = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(std::max<int64_t>(positions, 0)))));
      throw std::runtime_error(
          describe() + ": " + key + " has shape " + shape_text(t.sizes()) + ", but model.encoder.position_table_side=" +
          std::to_string(side) + " needs [1, " + std::to_string(side * side) + ", hidden]" +
          (root * root == positions ? "; set --set model.encoder.position_table_side=" + std::to_string(root) +
                                          " (max_img_size / patch_size)"
                                    : ""));
    }
    t = t.reshape({side, side, t.size(2)});
  }
  return t;
}

std::vector<std::string> HfRadioCheckpoint::unused() const {
  static const std::regex ignorable(
      R"((^|\.)(summary_idxs|input_conditioner\.norm_mean|input_conditioner\.norm_std|layer_scale[12]\.lambda1|ls[12]\.gamma|attention\.attention\.key\.bias)$)");
  std::vector<std::string> out;
  for (const std::string& name : reader_.names())
    if (starts_with(name, prefix_) && !used_.count(name) && !std::regex_search(name, ignorable)) out.push_back(name);
  return out;
}

void load_hf_radio(RadioEncoder& encoder, const std::string& dir, const EncoderArch& arch) {
  HfRadioCheckpoint ckpt(dir, arch);
  std::vector<Param> vision;  // handles to the encoder's own tensors
  bool first_tp_rank = true;
  for (const Param& p : encoder.params().params()) {
    if (starts_with(p.name, "encoder.")) vision.push_back(p);
    if (p.shard != 0) first_tp_rank = false;
  }
  try {
    load_params(vision, ckpt);
  } catch (const ConfigError&) {
    throw;
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    if (what.find(ckpt.last_key()) != std::string::npos) throw;
    throw std::runtime_error(what + " (checkpoint tensor '" + ckpt.last_key() + "')");
  }
  if (!first_tp_rank) return;
  const auto unused = ckpt.unused();
  std::ostringstream log;
  log << "encoder: initialised " << vision.size() << " tensors from " << ckpt.describe() << " ("
      << (ckpt.layout() == HfRadioLayout::Native ? "transformers RadioModel" : "released C-RADIO") << " names"
      << (ckpt.prefix().empty() ? "" : ", prefix " + ckpt.prefix())
      << "); the projector is not part of RADIO and keeps its seeded initialisation";
  if (!unused.empty()) {
    log << "; ignored " << unused.size() << " checkpoint tensors (";
    for (size_t i = 0; i < std::min<size_t>(unused.size(), 4); ++i) log << (i ? ", " : "") << unused[i];
    log << (unused.size() > 4 ? ", ..." : "") << ")";
  }
  std::cout << log.str() << std::endl;
}

}  // namespace hetero
