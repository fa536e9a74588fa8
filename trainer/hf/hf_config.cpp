#include "hf/hf_config.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <optional>
#include <sstream>

#include "hetero/errors.h"

namespace hetero {
namespace {

using json = nlohmann::json;

// transformers 5 names the layer kinds; earlier configs on the Hub use the
// legacy names that its remap_legacy_layer_types still accepts.
char kind_of(const std::string& type) {
  if (type == "linear_attention" || type == "mamba") return 'M';
  if (type == "full_attention" || type == "attention") return '*';
  if (type == "mlp") return '-';
  if (type == "moe") return 'E';
  return 0;
}

const char* type_of(char kind) {
  switch (kind) {
    case 'M': return "linear_attention";
    case '*': return "full_attention";
    case '-': return "mlp";
    default: return "moe";
  }
}

// Bare Infinity, -Infinity and NaN outside strings become what transformers
// 5 writes, {"__float__": "..."}, so that a strict JSON parser reads them.
std::string quote_non_finite(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) out += text[++i];
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    bool replaced = false;
    for (const char* word : {"-Infinity", "Infinity", "NaN"}) {
      if (text.compare(i, std::strlen(word), word) != 0) continue;
      out += std::string("{\"__float__\": \"") + word + "\"}";
      i += std::strlen(word) - 1;
      replaced = true;
      break;
    }
    if (!replaced) out += c;
  }
  return out;
}

std::optional<double> as_double(const json& v) {
  if (v.is_number()) return v.get<double>();
  const json* s = &v;
  if (v.is_object() && v.contains("__float__")) s = &v["__float__"];
  if (!s->is_string()) return std::nullopt;
  const std::string t = s->get<std::string>();
  if (t == "Infinity" || t == "inf") return std::numeric_limits<double>::infinity();
  if (t == "-Infinity" || t == "-inf") return -std::numeric_limits<double>::infinity();
  if (t == "NaN" || t == "nan") return std::numeric_limits<double>::quiet_NaN();
  return std::nullopt;
}

// The first of `keys` set (and not null) in the config, else transformers'
// default for it: a missing key means the default to transformers too.
// Several keys: the current name first, then the legacy names that
// NemotronHConfig still maps onto it.
json value(const json& c, std::initializer_list<const char*> keys, const json& fallback) {
  for (const char* k : keys)
    if (c.contains(k) && !c[k].is_null()) return c[k];
  return fallback;
}

bool same(const json& theirs, const json& ours) {
  if (theirs.is_number() && ours.is_number()) {
    const double a = theirs.get<double>(), b = ours.get<double>();
    return std::fabs(a - b) <= 1e-9 * std::max(std::fabs(a), std::fabs(b));
  }
  return theirs == ours;
}

}  // namespace

json read_hf_config(const std::string& dir) {
  const std::string path = dir + "/config.json";
  std::ifstream in(path);
  if (!in)
    throw ConfigError(path + " does not exist or cannot be read: a Hugging Face checkpoint folder holds config.json "
                      "and model.safetensors (or model-*.safetensors with model.safetensors.index.json)");
  std::stringstream text;
  text << in.rdbuf();
  try {
    return json::parse(quote_non_finite(text.str()));
  } catch (const json::exception& e) {
    throw ConfigError(path + " is not valid JSON: " + e.what());
  }
}

std::string hf_layer_pattern(const json& c) {
  std::string pattern;
  if (c.contains("layers_block_type") && c["layers_block_type"].is_array()) {
    for (const json& t : c["layers_block_type"]) {
      const char kind = t.is_string() ? kind_of(t.get<std::string>()) : 0;
      if (!kind)
        throw ConfigError("config.json layers_block_type holds " + t.dump() +
                          ", none of linear_attention, full_attention, mlp, moe");
      pattern += kind;
    }
    return pattern;
  }
  if (c.contains("hybrid_override_pattern") && c["hybrid_override_pattern"].is_string()) {
    pattern = c["hybrid_override_pattern"].get<std::string>();
    for (char k : pattern)
      if (std::string("M*-E").find(k) == std::string::npos)
        throw ConfigError("config.json hybrid_override_pattern '" + pattern + "' holds '" + std::string(1, k) +
                          "', none of M, *, -, E");
    return pattern;
  }
  throw ConfigError("config.json has neither layers_block_type nor hybrid_override_pattern: not a NemotronH config");
}

void check_hf_config(const json& c, const LlmArch& a, const std::string& where) {
  ProblemList p;
  const std::string at = where + "/config.json: ";
  // A value the recipe could match.
  auto compare = [&](const std::string& key, const json& theirs, const std::string& recipe_key, const json& ours) {
    if (same(theirs, ours)) return;
    p.add(at + key + "=" + theirs.dump() + " but the recipe has model.llm." + recipe_key + "=" + ours.dump() +
          "; use the recipe of the checkpoint's architecture (e.g. --set 'model.llm." + recipe_key + "=" +
          theirs.dump() + "')");
  };
  // A setting our forward does not compute: no recipe key can match it.
  auto require = [&](const std::string& key, const json& theirs, const json& ours, const std::string& why) {
    if (same(theirs, ours)) return;
    p.add(at + key + "=" + theirs.dump() + " but our forward " + why + " (" + key + "=" + ours.dump() +
          "): this checkpoint's model cannot be reproduced");
  };

  const json model_type = value(c, {"model_type"}, "");
  if (model_type != "nemotron_h")
    p.add(at + "model_type=" + model_type.dump() + " is not nemotron_h: not a Hugging Face NemotronH checkpoint");
  std::string pattern;
  try {
    pattern = hf_layer_pattern(c);
  } catch (const ConfigError& e) {
    p.add(at + e.problems().front());
  }
  if (!pattern.empty() && pattern != a.hybrid_override_pattern)
    p.add(at + "the layer pattern is \"" + pattern + "\" (" + std::to_string(pattern.size()) +
          " layers) but the recipe has model.llm.hybrid_override_pattern=\"" + a.hybrid_override_pattern + "\" (" +
          std::to_string(a.num_layers) + " layers); use the recipe of the checkpoint's architecture (e.g. --set "
          "model.llm.num_layers=" + std::to_string(pattern.size()) + " --set 'model.llm.hybrid_override_pattern=\"" +
          pattern + "\"')");
  const std::string kinds = pattern.empty() ? a.hybrid_override_pattern : pattern;
  auto has = [&](char kind) { return kinds.find(kind) != std::string::npos; };

  compare("hidden_size", value(c, {"hidden_size"}, 4096), "hidden_size", a.hidden_size);
  compare("vocab_size", value(c, {"vocab_size"}, 131072), "vocab_size", a.vocab_size);
  require("layer_norm_epsilon", value(c, {"layer_norm_epsilon"}, 1e-5), 1e-5, "normalises with epsilon 1e-5");
  require("tie_word_embeddings", value(c, {"tie_word_embeddings"}, false), false,
          "has an output layer of its own (lm_head.weight)");
  if (has('*')) {
    const json heads = value(c, {"num_attention_heads"}, 32);
    compare("num_attention_heads", heads, "num_attention_heads", a.num_attention_heads);
    compare("num_key_value_heads", value(c, {"num_key_value_heads"}, heads), "num_query_groups", a.num_query_groups);
    compare("head_dim", value(c, {"head_dim", "attention_head_dim"}, 128), "head_dim", a.attention_head_dim());
    require("attention_bias", value(c, {"attention_bias"}, false), false, "has no attention biases");
  }
  if (has('-')) compare("intermediate_size", value(c, {"intermediate_size"}, 21504), "ffn_hidden_size", a.ffn_hidden_size);
  if (has('-') || has('E')) {
    require("mlp_hidden_act", value(c, {"mlp_hidden_act"}, "relu2"), "relu2", "uses squared ReLU");
    require("mlp_bias", value(c, {"mlp_bias"}, false), false, "has no MLP biases");
  }
  if (has('M')) {
    compare("mamba_num_heads", value(c, {"mamba_num_heads"}, 128), "mamba_num_heads", a.mamba_num_heads);
    compare("mamba_head_dim", value(c, {"mamba_head_dim"}, 64), "mamba_head_dim", a.mamba_head_dim);
    compare("ssm_state_size", value(c, {"ssm_state_size"}, 128), "ssm_state_size", a.ssm_state_size);
    compare("n_groups", value(c, {"n_groups", "mamba_n_groups"}, 8), "n_groups", a.n_groups);
    compare("conv_kernel", value(c, {"conv_kernel", "mamba_d_conv"}, 4), "conv_kernel", a.conv_kernel);
    // chunk_size only changes how the scan is blocked, not its result: not compared.
    require("use_conv_bias", value(c, {"use_conv_bias", "mamba_conv_bias"}, true), true, "has a conv1d bias");
    require("use_bias", value(c, {"use_bias"}, false), false, "has no in_proj / out_proj biases");
    require("mamba_hidden_act", value(c, {"mamba_hidden_act"}, "silu"), "silu", "uses SiLU in the Mamba-2 mixer");
    // Our dt is softplus(dt + dt_bias), unclamped, as time_step_limit [0, inf]
    // (Megatron's and mamba_ssm's default) would have it. transformers 5
    // ignores this key and clamps dt at time_step_min instead
    // (modeling_nemotron_h.py: time_step_limit = (time_step_min, inf)): where
    // a head's dt falls below it, its logits differ from ours (and from
    // Megatron's, which trained the public checkpoints).
    const json limit = value(c, {"time_step_limit", "mamba_dt_limit"}, json::array({0.0, "Infinity"}));
    const bool unclamped = limit.is_array() && limit.size() == 2 && as_double(limit[0]) == 0.0 &&
                           as_double(limit[1]) == std::numeric_limits<double>::infinity();
    if (!unclamped)
      p.add(at + "time_step_limit=" + limit.dump() + " but our forward does not clamp dt (time_step_limit [0, "
            "Infinity]): this checkpoint's model cannot be reproduced");
  }
  if (has('E')) {
    compare("n_routed_experts", value(c, {"n_routed_experts"}, 8), "n_routed_experts", a.num_experts);
    compare("moe_intermediate_size", value(c, {"moe_intermediate_size"}, 7688), "moe_intermediate_size",
            a.moe_intermediate_size);
    compare("moe_shared_expert_intermediate_size", value(c, {"moe_shared_expert_intermediate_size"}, 7688),
            "moe_shared_expert_intermediate_size", a.moe_shared_expert_intermediate_size);
    compare("num_experts_per_tok", value(c, {"num_experts_per_tok"}, 2), "num_experts_per_tok", a.num_experts_per_tok);
    compare("routed_scaling_factor", value(c, {"routed_scaling_factor"}, 1.0), "routed_scaling_factor",
            a.routed_scaling_factor);
    compare("norm_topk_prob", value(c, {"norm_topk_prob"}, true), "norm_topk_prob", a.norm_topk_prob);
    if (a.moe_score_function != "sigmoid")
      p.add(at + "NemotronH routes with sigmoid scores but the recipe has model.llm.moe_score_function=\"" +
            a.moe_score_function + "\"; use --set model.llm.moe_score_function=sigmoid");
    require("moe_latent_size", value(c, {"moe_latent_size"}, nullptr), nullptr, "has no latent expert projection");
    // Group-limited routing keeps the best topk_group of n_group expert
    // groups; with one group, or all of them kept, it is plain top-k (ours).
    const json groups = value(c, {"n_group"}, 1), kept = value(c, {"topk_group"}, 1);
    if (!same(groups, 1) && !same(kept, groups))
      p.add(at + "n_group=" + groups.dump() + ", topk_group=" + kept.dump() +
            " but our router picks the top k of all experts (n_group=1): this checkpoint's model cannot be "
            "reproduced");
  }
  p.throw_if_any();
}

json hf_config_for(const LlmArch& a, const std::string& dtype) {
  json c;
  c["architectures"] = json::array({"NemotronHForCausalLM"});
  c["model_type"] = "nemotron_h";
  c["dtype"] = dtype;
  c["vocab_size"] = a.vocab_size;
  c["hidden_size"] = a.hidden_size;
  c["num_hidden_layers"] = a.num_layers;
  // Both forms of the pattern: transformers 5 reads layers_block_type (and
  // ignores the other when both are given), earlier code the string.
  c["hybrid_override_pattern"] = a.hybrid_override_pattern;
  c["layers_block_type"] = json::array();
  for (char k : a.hybrid_override_pattern) c["layers_block_type"].push_back(type_of(k));
  c["tie_word_embeddings"] = false;
  c["layer_norm_epsilon"] = 1e-5;
  c["residual_in_fp32"] = false;
  c["use_cache"] = true;
  c["initializer_range"] = 0.02;
  c["rescale_prenorm_residual"] = true;
  c["num_nextn_predict_layers"] = 0;
  // Attention: no positional encoding inside the model, so this is only our
  // training length.
  c["num_attention_heads"] = a.num_attention_heads;
  c["num_key_value_heads"] = a.num_query_groups;
  c["head_dim"] = a.attention_head_dim();
  c["attention_bias"] = false;
  c["attention_dropout"] = 0.0;
  c["max_position_embeddings"] = a.seq_length;
  c["intermediate_size"] = a.ffn_hidden_size;
  c["mlp_hidden_act"] = "relu2";
  c["mlp_bias"] = false;
  // Mamba-2. expand is not read by transformers 5 (the width is
  // mamba_num_heads x mamba_head_dim); given for older readers.
  const int inner = a.mamba_num_heads * a.mamba_head_dim;
  c["mamba_num_heads"] = a.mamba_num_heads;
  c["mamba_head_dim"] = a.mamba_head_dim;
  c["ssm_state_size"] = a.ssm_state_size;
  c["n_groups"] = a.n_groups;
  c["conv_kernel"] = a.conv_kernel;
  c["chunk_size"] = a.chunk_size;
  c["expand"] = a.hidden_size > 0 && inner % a.hidden_size == 0 ? inner / a.hidden_size : 2;
  c["mamba_hidden_act"] = "silu";
  c["use_conv_bias"] = true;
  c["use_bias"] = false;
  c["mamba_proj_bias"] = false;
  c["use_mamba_kernels"] = false;
  // dt_bias initialisation (MambaConfig's dt_min, dt_max, dt_floor). The
  // limit is left to transformers' default, [0, inf]: what our forward does,
  // and JSON has no literal for infinity.
  c["time_step_min"] = 0.001;
  c["time_step_max"] = 0.1;
  c["time_step_floor"] = 1e-4;
  // MoE keys only for models with MoE layers: without one, transformers'
  // defaults are never used, and n_routed_experts=0 is no valid router.
  if (a.count_layers('E') > 0) {
    c["n_routed_experts"] = a.num_experts;
    c["moe_intermediate_size"] = a.moe_intermediate_size;
    c["moe_shared_expert_intermediate_size"] = a.moe_shared_expert_intermediate_size;
    c["n_shared_experts"] = a.moe_shared_expert_intermediate_size > 0 ? 1 : 0;
    c["num_experts_per_tok"] = a.num_experts_per_tok;
    c["routed_scaling_factor"] = a.routed_scaling_factor;
    c["norm_topk_prob"] = a.norm_topk_prob;
    c["n_group"] = 1;
    c["topk_group"] = 1;
    c["moe_latent_size"] = nullptr;
  }
  return c;
}

}  // namespace hetero
