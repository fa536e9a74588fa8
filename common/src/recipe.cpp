#include "hetero/recipe.h"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <regex>
#include <set>
#include <sstream>
#include <tuple>

#include "hetero/errors.h"
#include "hetero/train_schedule.h"

namespace fs = std::filesystem;

namespace hetero {
namespace {

// Reads typed values from one YAML map, recording type errors and, at the
// end, every key it was never asked for (an unknown key).
class MapReader {
 public:
  MapReader(YAML::Node node, std::string path, ProblemList& problems)
      : node_(std::move(node)), path_(std::move(path)), problems_(problems) {
    if (node_ && !node_.IsNull() && !node_.IsMap()) {
      problems_.add("recipe key '" + path_ + "' must be a map of keys");
      node_ = YAML::Node(YAML::NodeType::Map);
    }
  }
  ~MapReader() noexcept(false) {}

  template <typename T>
  T get(const std::string& key, const T& fallback, bool required, const char* type_name) {
    asked_.insert(key);
    if (!node_ || !node_[key] || node_[key].IsNull()) {
      if (required) problems_.add("recipe key '" + full(key) + "' is missing (" + type_name + " required)");
      return fallback;
    }
    try {
      return node_[key].template as<T>();
    } catch (const YAML::Exception&) {
      problems_.add("recipe key '" + full(key) + "': expected " + type_name + ", got '" +
                    scalar_text(node_[key]) + "'");
      return fallback;
    }
  }
  int req_int(const std::string& k) { return get<int>(k, 0, true, "an integer"); }
  int opt_int(const std::string& k, int d) { return get<int>(k, d, false, "an integer"); }
  double req_double(const std::string& k) { return get<double>(k, 0.0, true, "a number"); }
  double opt_double(const std::string& k, double d) { return get<double>(k, d, false, "a number"); }
  std::string req_string(const std::string& k) { return get<std::string>(k, "", true, "a string"); }
  std::string opt_string(const std::string& k, const std::string& d) {
    return get<std::string>(k, d, false, "a string");
  }
  std::uint64_t req_u64(const std::string& k) {
    return get<std::uint64_t>(k, 0, true, "a non-negative integer");
  }
  std::int64_t opt_i64(const std::string& k, std::int64_t d) {
    return get<std::int64_t>(k, d, false, "an integer");
  }
  bool opt_bool(const std::string& k, bool d) { return get<bool>(k, d, false, "true or false"); }
  // A list of numbers; empty when the key is absent.
  std::vector<double> opt_double_list(const std::string& k) {
    asked_.insert(k);
    std::vector<double> out;
    if (!node_ || !node_[k] || node_[k].IsNull()) return out;
    const YAML::Node list = node_[k];
    if (!list.IsSequence()) {
      problems_.add("recipe key '" + full(k) + "': expected a list of numbers, e.g. [0.5, 0.5, 0.5], got '" +
                    scalar_text(list) + "'");
      return out;
    }
    for (const auto& v : list) {
      try {
        out.push_back(v.as<double>());
      } catch (const YAML::Exception&) {
        problems_.add("recipe key '" + full(k) + "': expected a list of numbers, but it holds '" + scalar_text(v) +
                      "'");
        return {};
      }
    }
    return out;
  }
  bool has(const std::string& k) const { return node_ && node_[k] && !node_[k].IsNull(); }
  // The node under `key` (marked as known), for lists and free-form maps.
  YAML::Node raw(const std::string& key) {
    asked_.insert(key);
    return node_ && node_[key] ? node_[key] : YAML::Node();
  }
  std::string full_key(const std::string& key) const { return full(key); }
  ProblemList& problems() { return problems_; }
  void problem(const std::string& key, const std::string& rule) {
    problems_.add("recipe key '" + full(key) + "' " + rule);
  }

  MapReader child(const std::string& key) {
    asked_.insert(key);
    return MapReader(node_ ? node_[key] : YAML::Node(), full(key), problems_);
  }
  std::vector<std::string> keys() const {
    std::vector<std::string> out;
    if (node_ && node_.IsMap())
      for (const auto& kv : node_) out.push_back(kv.first.as<std::string>());
    return out;
  }
  void mark_asked(const std::string& key) { asked_.insert(key); }

  // Reports keys present in the map that no reader asked for.
  void finish() {
    if (!node_ || !node_.IsMap()) return;
    for (const auto& kv : node_) {
      auto key = kv.first.as<std::string>();
      if (!asked_.count(key)) {
        std::string known;
        for (const auto& k : asked_) known += (known.empty() ? "" : ", ") + k;
        problems_.add("unknown recipe key '" + full(key) + "' (known keys here: " + known + ")");
      }
    }
  }

 private:
  std::string full(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  static std::string scalar_text(const YAML::Node& n) {
    if (n.IsScalar()) return n.Scalar();
    std::ostringstream os;
    os << n;
    return os.str();
  }

  YAML::Node node_;
  std::string path_;
  ProblemList& problems_;
  std::set<std::string> asked_;
};

// A schedule length is given either in iterations or in samples. A layer
// (the scale's train section, a --set) that gives one replaces the other
// from the layers below it, so a scale or the command line can switch units.
const std::vector<std::pair<std::string, std::string>> kScheduleUnits = {
    {"train_iters", "train_samples"},
    {"lr_warmup_iters", "lr_warmup_samples"},
    {"lr_decay_iters", "lr_decay_samples"},
    {"lr_wsd_decay_iters", "lr_wsd_decay_samples"}};

std::string other_unit(const std::string& key) {
  for (const auto& [iters, samples] : kScheduleUnits) {
    if (key == iters) return samples;
    if (key == samples) return iters;
  }
  return "";
}

// Drops from `base` (a train section) the counterpart of every schedule key `over` sets.
void drop_replaced_units(YAML::Node& base, const YAML::Node& over) {
  if (!base || !base.IsMap() || !over || !over.IsMap()) return;
  for (const auto& kv : over) {
    const std::string other = other_unit(kv.first.as<std::string>());
    if (!other.empty() && base[other]) base.remove(other);
  }
}

YAML::Node merge_over(const YAML::Node& base, const YAML::Node& over) {
  YAML::Node out = YAML::Clone(base);
  if (!over || over.IsNull()) return out;
  if (!over.IsMap() || !out.IsMap()) return YAML::Clone(over);
  for (const auto& kv : over) {
    const auto key = kv.first.as<std::string>();
    if (out[key] && out[key].IsMap() && kv.second.IsMap())
      out[key] = merge_over(out[key], kv.second);
    else
      out[key] = YAML::Clone(kv.second);
  }
  return out;
}

void apply_override(YAML::Node& root, const std::string& text) {
  auto [path, value] = parse_override(text);
  YAML::Node cur;
  cur.reset(root);
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    YAML::Node next = cur[path[i]];
    if (next && next.IsDefined() && !next.IsNull() && !next.IsMap())
      throw ConfigError("--set " + text + ": '" + path[i] + "' is a value, not a section, so it has no key '" +
                        path[i + 1] + "'");
    if (!next.IsDefined() || next.IsNull()) cur[path[i]] = YAML::Node(YAML::NodeType::Map);
    YAML::Node child = cur[path[i]];
    cur.reset(child);
  }
  YAML::Node parsed;
  try {
    parsed = YAML::Load(value);
  } catch (const YAML::Exception& e) {
    throw ConfigError("--set " + text + ": value '" + value + "' is not valid YAML (" + e.msg + ")");
  }
  cur[path.back()] = parsed;
  // --set train.train_iters=N replaces a train_samples of the same section (and back).
  const std::string other = other_unit(path.back());
  if (path.size() >= 2 && path[path.size() - 2] == "train" && !other.empty() && cur[other]) cur.remove(other);
}

LlmArch read_llm(MapReader m) {
  LlmArch a;
  a.num_layers = m.req_int("num_layers");
  a.hidden_size = m.req_int("hidden_size");
  a.vocab_size = m.req_int("vocab_size");
  a.seq_length = m.req_int("seq_length");
  a.hybrid_override_pattern = m.req_string("hybrid_override_pattern");
  a.num_attention_heads = m.req_int("num_attention_heads");
  a.num_query_groups = m.req_int("num_query_groups");
  a.head_dim = m.opt_int("head_dim", 0);
  a.ffn_hidden_size = m.req_int("ffn_hidden_size");
  a.mamba_num_heads = m.req_int("mamba_num_heads");
  a.mamba_head_dim = m.req_int("mamba_head_dim");
  a.ssm_state_size = m.req_int("ssm_state_size");
  a.n_groups = m.req_int("n_groups");
  a.conv_kernel = m.req_int("conv_kernel");
  a.chunk_size = m.req_int("chunk_size");
  a.dt_clamp_min = m.opt_double("dt_clamp_min", 0.0);
  a.num_experts = m.opt_int("n_routed_experts", 0);
  a.moe_intermediate_size = m.opt_int("moe_intermediate_size", 0);
  a.moe_shared_expert_intermediate_size = m.opt_int("moe_shared_expert_intermediate_size", 0);
  a.num_experts_per_tok = m.opt_int("num_experts_per_tok", 1);
  a.routed_scaling_factor = m.opt_double("routed_scaling_factor", 1.0);
  a.norm_topk_prob = m.get<bool>("norm_topk_prob", true, false, "true or false");
  a.moe_score_function = m.opt_string("moe_score_function", "sigmoid");
  a.moe_aux_loss_coeff = m.opt_double("moe_aux_loss_coeff", 0.0);
  m.finish();
  return a;
}

// The language model's own rules (no topology needed), one problem each.
void check_llm(const LlmArch& a, ProblemList& p) {
  const std::string& pattern = a.hybrid_override_pattern;
  const std::string key = "model.llm.hybrid_override_pattern='" + pattern + "'";
  if (static_cast<int>(pattern.size()) != a.num_layers)
    p.add(key + " has " + std::to_string(pattern.size()) + " characters but model.llm.num_layers=" +
          std::to_string(a.num_layers) + "; give exactly one character per layer (or change num_layers)");
  const auto bad = pattern.find_first_not_of("M*-E");
  if (bad != std::string::npos)
    p.add(key + " has '" + std::string(1, pattern[bad]) + "' at layer " + std::to_string(bad) +
          "; use only M (Mamba-2), * (attention), - (MLP) and E (MoE)");
  auto divides = [&](const char* what, int d, const char* of, int v) {
    if (d < 1 || v % d != 0)
      p.add(std::string("model.llm.") + what + "=" + std::to_string(d) + " does not divide model.llm." + of + "=" +
            std::to_string(v) + "; choose a divisor");
  };
  if (a.count_layers('*') > 0) divides("num_query_groups", a.num_query_groups, "num_attention_heads", a.num_attention_heads);
  if (a.count_layers('M') > 0) divides("n_groups", a.n_groups, "mamba_num_heads", a.mamba_num_heads);
  if (!(a.dt_clamp_min >= 0))
    p.add("model.llm.dt_clamp_min=" + std::to_string(a.dt_clamp_min) +
          " must be 0 (no clamp, as Megatron) or positive (transformers' NemotronH: 0.001)");
  const int moe_layers = a.count_layers('E');
  if (moe_layers > 0 && a.num_experts < 1)
    p.add(key + " has " + std::to_string(moe_layers) +
          " MoE layers (E) but model.llm.n_routed_experts=" + std::to_string(a.num_experts) +
          "; set n_routed_experts (and the other moe_* keys) or drop the E layers");
  if (moe_layers == 0 && a.num_experts > 0)
    p.add("model.llm.n_routed_experts=" + std::to_string(a.num_experts) + " but " + key +
          " has no MoE layer (E); set n_routed_experts=0 or add E layers");
  if (moe_layers > 0) {
    if (a.num_experts_per_tok < 1 || a.num_experts_per_tok > a.num_experts)
      p.add("model.llm.num_experts_per_tok=" + std::to_string(a.num_experts_per_tok) +
            " must lie in [1, n_routed_experts=" + std::to_string(a.num_experts) + "]");
    if (a.moe_intermediate_size < 1)
      p.add("model.llm.moe_intermediate_size=" + std::to_string(a.moe_intermediate_size) +
            " must be at least 1 for the E layers; set the experts' FFN width");
    if (a.moe_score_function != "sigmoid" && a.moe_score_function != "softmax")
      p.add("model.llm.moe_score_function='" + a.moe_score_function + "' must be sigmoid or softmax");
    if (a.moe_aux_loss_coeff < 0)
      p.add("model.llm.moe_aux_loss_coeff=" + std::to_string(a.moe_aux_loss_coeff) + " must be 0 or more");
  }
}

EncoderArch read_encoder(MapReader m) {
  EncoderArch a;
  a.num_layers = m.req_int("num_layers");
  a.hidden_size = m.req_int("hidden_size");
  a.num_attention_heads = m.req_int("num_attention_heads");
  a.ffn_hidden_size = m.req_int("ffn_hidden_size");
  a.patch_size = m.req_int("patch_size");
  a.channels = m.req_int("channels");
  a.position_table_side = m.req_int("position_table_side");
  a.num_cls_tokens = m.req_int("num_cls_tokens");
  a.num_registers = m.req_int("num_registers");
  a.min_patches = m.req_int("min_patches");
  a.max_patches = m.req_int("max_patches");
  a.norm = m.opt_string("norm", a.norm);
  a.norm_eps = m.opt_double("norm_eps", a.norm_eps);
  a.bias = m.opt_bool("bias", a.bias);
  a.mlp_activation = m.opt_string("mlp_activation", a.mlp_activation);
  a.final_norm = m.opt_bool("final_norm", a.final_norm);
  a.position_interpolation = m.opt_string("position_interpolation", a.position_interpolation);
  a.pixel_mean = m.opt_double_list("pixel_mean");
  a.pixel_std = m.opt_double_list("pixel_std");
  m.finish();
  return a;
}

// The encoder's architecture variants, one problem each.
void check_encoder_variants(const EncoderArch& e, ProblemList& p) {
  auto num = [](double v) {
    std::ostringstream os;
    os << v;
    return os.str();
  };
  if (e.norm != "rmsnorm" && e.norm != "layernorm")
    p.add("model.encoder.norm='" + e.norm + "' must be rmsnorm or layernorm (C-RADIO: layernorm)");
  if (!(e.norm_eps > 0))
    p.add("model.encoder.norm_eps=" + num(e.norm_eps) + " must be greater than 0 (C-RADIO: 1e-6)");
  if (e.mlp_activation != "squared_relu" && e.mlp_activation != "gelu" && e.mlp_activation != "gelu_tanh")
    p.add("model.encoder.mlp_activation='" + e.mlp_activation +
          "' must be squared_relu, gelu (exact, erf) or gelu_tanh (C-RADIO: gelu)");
  if (e.position_interpolation != "stretch" && e.position_interpolation != "square_crop")
    p.add("model.encoder.position_interpolation='" + e.position_interpolation +
          "' must be stretch or square_crop (C-RADIO: square_crop)");
  if (e.pixel_mean.empty() != e.pixel_std.empty())
    p.add(std::string("model.encoder.pixel_mean and pixel_std come together: ") +
          (e.pixel_mean.empty() ? "pixel_std" : "pixel_mean") + " is given alone; give both (one value per channel) "
          "or neither (pixels go in unchanged)");
  for (const auto* list : {&e.pixel_mean, &e.pixel_std}) {
    const char* key = list == &e.pixel_mean ? "pixel_mean" : "pixel_std";
    if (!list->empty() && static_cast<int>(list->size()) != e.channels)
      p.add(std::string("model.encoder.") + key + " has " + std::to_string(list->size()) +
            " values but model.encoder.channels=" + std::to_string(e.channels) + "; give one value per channel");
  }
  for (size_t c = 0; c < e.pixel_std.size(); ++c)
    if (!(e.pixel_std[c] > 0))
      p.add("model.encoder.pixel_std[" + std::to_string(c) + "]=" + num(e.pixel_std[c]) +
            " must be greater than 0 (it divides the pixels)");
}

DataConfig read_data(MapReader m) {
  DataConfig d;
  d.seed = m.req_u64("seed");
  d.max_images_per_sample = m.opt_int("max_images_per_sample", d.max_images_per_sample);
  d.text_only_fraction = m.opt_double("text_only_fraction", d.text_only_fraction);
  d.image_min_px = m.opt_int("image_min_px", d.image_min_px);
  d.image_max_px = m.opt_int("image_max_px", d.image_max_px);
  const YAML::Node blend = m.raw("blend");
  if (blend && !blend.IsNull()) {
    if (!blend.IsSequence()) m.problem("blend", "must be a list of {path: ..., weight: ...}");
    for (size_t i = 0; blend.IsSequence() && i < blend.size(); ++i) {
      MapReader src(blend[i], m.full_key("blend") + "[" + std::to_string(i) + "]", m.problems());
      d.blend.push_back({src.req_string("path"), src.req_double("weight")});
      src.finish();
    }
  }
  d.split = m.opt_string("split", d.split);
  d.packing = m.opt_bool("packing", d.packing);
  d.image_token_id = m.opt_i64("image_token_id", d.image_token_id);
  d.pad_token_id = m.opt_i64("pad_token_id", d.pad_token_id);
  d.skip_bad_samples = m.opt_bool("skip_bad_samples", d.skip_bad_samples);
  d.prefetch_depth = m.opt_int("prefetch_depth", d.prefetch_depth);
  d.loader_threads = m.opt_int("loader_threads", d.loader_threads);
  m.finish();
  return d;
}

// ceil(samples / global batch) iterations; checks the samples value.
int iterations_of_samples(const std::string& key, std::int64_t samples, std::int64_t min_samples,
                          int global_batch_size, ProblemList& p) {
  if (samples < min_samples) {
    p.add("train." + key + "=" + std::to_string(samples) + " must be at least " + std::to_string(min_samples));
    return 0;
  }
  if (global_batch_size < 1) return 0;  // reported by the topology check
  const std::int64_t iters = (samples + global_batch_size - 1) / global_batch_size;
  if (iters > std::numeric_limits<int>::max()) {
    p.add("train." + key + "=" + std::to_string(samples) + " gives " + std::to_string(iters) +
          " iterations at global_batch_size=" + std::to_string(global_batch_size) + ", more than " +
          std::to_string(std::numeric_limits<int>::max()) + "; lower it or raise the global batch");
    return 0;
  }
  return static_cast<int>(iters);
}

TrainConfig read_train(MapReader m, ProblemList& p) {
  TrainConfig t;
  t.global_batch_size = m.req_int("global_batch_size");
  t.micro_batch_size = m.req_int("micro_batch_size");
  // The length of the run and of the warmup: iterations or samples, once.
  // Each length in one unit, iterations or samples.
  for (const auto& [iters_key, samples_key] : kScheduleUnits) {
    const bool required = iters_key == "train_iters";
    if (m.has(iters_key) && m.has(samples_key)) {
      p.add("train." + iters_key + " and train." + samples_key + " are both given (in the recipe's train section " +
            "or a scale's); give one of them: iterations are derived as ceil(" + samples_key +
            " / global_batch_size)");
    } else if (required && !m.has(iters_key) && !m.has(samples_key)) {
      p.add("recipe key 'train.train_iters' is missing: give train.train_iters (iterations) or train.train_samples "
            "(samples; iterations = ceil(train_samples / global_batch_size))");
    }
  }
  t.train_iters = m.opt_int("train_iters", 0);
  t.train_samples = m.opt_i64("train_samples", 0);
  if (m.has("train_samples")) t.train_iters = iterations_of_samples("train_samples", t.train_samples, 1, t.global_batch_size, p);
  t.lr = m.req_double("lr");
  t.min_lr = m.opt_double("min_lr", 0.0);
  t.lr_warmup_iters = m.opt_int("lr_warmup_iters", 0);
  t.lr_warmup_samples = m.opt_i64("lr_warmup_samples", 0);
  if (m.has("lr_warmup_samples"))
    t.lr_warmup_iters = iterations_of_samples("lr_warmup_samples", t.lr_warmup_samples, 0, t.global_batch_size, p);
  t.lr_decay_style = m.opt_string("lr_decay_style", "constant");
  t.lr_warmup_init = m.opt_double("lr_warmup_init", 0.0);
  t.lr_decay_iters = m.opt_i64("lr_decay_iters", 0);
  t.lr_decay_samples = m.opt_i64("lr_decay_samples", 0);
  t.lr_wsd_decay_style = m.opt_string("lr_wsd_decay_style", "linear");
  t.lr_wsd_decay_iters = m.opt_i64("lr_wsd_decay_iters", 0);
  t.lr_wsd_decay_samples = m.opt_i64("lr_wsd_decay_samples", 0);
  t.weight_decay = m.opt_double("weight_decay", 0.0);
  t.start_weight_decay = m.opt_double("start_weight_decay", -1.0);
  t.end_weight_decay = m.opt_double("end_weight_decay", -1.0);
  t.weight_decay_incr_style = m.opt_string("weight_decay_incr_style", "constant");
  t.adam_beta1 = m.opt_double("adam_beta1", 0.9);
  t.adam_beta2 = m.opt_double("adam_beta2", 0.999);
  t.adam_eps = m.opt_double("adam_eps", 1e-8);
  t.clip_grad = m.opt_double("clip_grad", 0.0);
  t.encoder_run_ahead = m.opt_int("encoder_run_ahead", 1);
  t.save_interval = m.opt_int("save_interval", 0);
  if (t.save_interval < 0)
    p.add("recipe key '" + m.full_key("save_interval") + "' is " + std::to_string(t.save_interval) +
          ": give the iterations between checkpoints (0: save only on a stop request and at the end)");
  t.keep_last = m.opt_int("keep_last", 2);
  if (t.keep_last < 1)
    p.add("recipe key '" + m.full_key("keep_last") + "' is " + std::to_string(t.keep_last) +
          ": at least the newest complete checkpoint is kept; give 1 or more");
  const YAML::Node freeze = m.raw("freeze");
  const std::string parts = "vision, projector, llm";
  if (freeze && !freeze.IsNull()) {
    if (!freeze.IsSequence()) {
      p.add("recipe key '" + m.full_key("freeze") + "' must be a list of parts (" + parts +
            "), e.g. [vision, llm] for stage 1");
    } else {
      for (const auto& part : freeze) {
        const std::string name = part.IsScalar() ? part.Scalar() : "?";
        if (std::find(kFreezableParts.begin(), kFreezableParts.end(), name) == kFreezableParts.end())
          p.add(m.full_key("freeze") + " names '" + name + "', which is not one of " + parts);
        else
          t.freeze.insert(name);
      }
      if (t.freeze.size() == kFreezableParts.size())
        p.add(m.full_key("freeze") + " freezes every part (" + parts + "): nothing would train; leave one out");
    }
  }
  m.finish();
  return t;
}

LaunchConfig read_launch(MapReader m, ProblemList& p) {
  LaunchConfig l;
  l.time = m.opt_string("time", l.time);
  l.signal_seconds = m.opt_int("signal_seconds", l.signal_seconds);
  l.max_requeues = m.opt_int("max_requeues", l.max_requeues);
  l.port = m.opt_int("port", l.port);
  l.device = m.opt_string("device", l.device);
  l.account = m.opt_string("account", "");
  l.partition = m.opt_string("partition", "");
  const YAML::Node env = m.raw("env");
  if (env && !env.IsNull()) {
    if (!env.IsMap()) {
      p.add("recipe key '" + m.full_key("env") + "' must be a map of NAME: value (e.g. NCCL_DEBUG: WARN)");
    } else {
      for (const auto& kv : env) {
        const std::string name = kv.first.as<std::string>();
        if (!kv.second.IsScalar())
          p.add("recipe key '" + m.full_key("env") + "." + name + "' must be a plain value (a string or number)");
        else
          l.env.emplace_back(name, kv.second.Scalar());
      }
    }
  }
  const YAML::Node extra = m.raw("sbatch_extra");
  if (extra && !extra.IsNull()) {
    if (!extra.IsSequence()) {
      p.add("recipe key '" + m.full_key("sbatch_extra") + "' must be a list of \"#SBATCH ...\" lines");
    } else {
      for (const auto& line : extra) {
        if (line.IsScalar())
          l.sbatch_extra.push_back(line.Scalar());
        else
          p.add("recipe key '" + m.full_key("sbatch_extra") + "' must hold strings, one \"#SBATCH ...\" line each");
      }
    }
  }
  m.finish();
  return l;
}

ModuleScale read_module_scale(MapReader m, int gpus_per_node, ProblemList& problems, const std::string& path) {
  ModuleScale s;
  const bool by_nodes = m.has("nodes"), by_ranks = m.has("ranks");
  s.nodes = m.opt_int("nodes", 0);
  s.ranks = m.opt_int("ranks", 0);
  if (by_nodes && by_ranks)
    problems.add(path + ": give either nodes or ranks, not both (nodes=" + std::to_string(s.nodes) +
                 ", ranks=" + std::to_string(s.ranks) + ")");
  if (by_nodes) s.ranks = s.nodes * gpus_per_node;
  s.tp = m.opt_int("tp", 1);
  s.cp = m.opt_int("cp", 1);
  s.pp = m.opt_int("pp", 1);
  s.ep = m.opt_int("ep", 1);
  s.etp = m.opt_int("etp", 1);
  s.sp = m.get<bool>("sp", false, false, "true or false");
  m.finish();
  return s;
}

ScaleConfig read_scale(MapReader m, const std::string& name, ProblemList& problems) {
  ScaleConfig s;
  s.name = name;
  s.mode = m.opt_string("mode", "hetero");
  s.nodes = m.req_int("nodes");
  s.gpus_per_node = m.req_int("gpus_per_node");
  // model/data/train sections of a scale are merged over the top-level ones
  // and checked there; here we only accept them.
  m.mark_asked("model");
  m.mark_asked("data");
  m.mark_asked("train");
  m.mark_asked("launch");
  const std::string path = "scales." + name;
  s.encoder = read_module_scale(m.child("encoder"), s.gpus_per_node, problems, path + ".encoder");
  s.llm = read_module_scale(m.child("llm"), s.gpus_per_node, problems, path + ".llm");
  if (s.mode != "hetero" && s.mode != "colocated")
    problems.add("recipe key '" + path + ".mode' is '" + s.mode + "'; it must be hetero or colocated");
  m.finish();
  return s;
}

// Value rules that need no topology: the data must fit the model.
void check_values(const Recipe& r, ProblemList& p) {
  check_llm(r.llm, p);
  const DataConfig& d = r.data;
  auto text = [](double v) {
    std::ostringstream os;
    os << v;
    return os.str();
  };
  if (d.text_only_fraction < 0 || d.text_only_fraction > 1)
    p.add("data.text_only_fraction=" + text(d.text_only_fraction) + " must be between 0 and 1");
  if (d.max_images_per_sample < 0)
    p.add("data.max_images_per_sample=" + std::to_string(d.max_images_per_sample) + " must be 0 or more");
  if (d.image_min_px < 1 || d.image_min_px > d.image_max_px)
    p.add("data.image_min_px=" + std::to_string(d.image_min_px) + " and data.image_max_px=" +
          std::to_string(d.image_max_px) + " must satisfy 1 <= min <= max");
  double weight_sum = 0;
  for (size_t i = 0; i < d.blend.size(); ++i) {
    if (d.blend[i].weight < 0)
      p.add("data.blend[" + std::to_string(i) + "].weight=" + text(d.blend[i].weight) + " (" + d.blend[i].path +
            ") must be 0 or more");
    weight_sum += d.blend[i].weight;
  }
  if (!d.blend.empty() && !(weight_sum > 0))
    p.add("data.blend weights sum to " + text(weight_sum) + "; give at least one source a positive weight");
  for (const auto& [key, id] : {std::pair<const char*, std::int64_t>{"image_token_id", d.image_token_id},
                                {"pad_token_id", d.pad_token_id}})
    if (id < 0 || id >= r.llm.vocab_size)
      p.add(std::string("data.") + key + "=" + std::to_string(id) + " must be a token id in [0, model.llm.vocab_size=" +
            std::to_string(r.llm.vocab_size) + ")");
  if (!d.blend.empty() && d.pad_token_id == d.image_token_id)
    p.add("data.pad_token_id=" + std::to_string(d.pad_token_id) +
          " equals data.image_token_id: padding would take image rows; pick another padding id");
  if (d.prefetch_depth < 0)
    p.add("data.prefetch_depth=" + std::to_string(d.prefetch_depth) + " must be 0 (no prefetch) or more");
  if (d.loader_threads < 1)
    p.add("data.loader_threads=" + std::to_string(d.loader_threads) + " must be at least 1");
  const EncoderArch& e = r.encoder;
  check_encoder_variants(e, p);
  if (e.position_table_side < 1)
    p.add("model.encoder.position_table_side=" + std::to_string(e.position_table_side) + " must be at least 1");
  if (e.num_cls_tokens < 0 || e.num_registers < 0)
    p.add("model.encoder.num_cls_tokens=" + std::to_string(e.num_cls_tokens) + " and num_registers=" +
          std::to_string(e.num_registers) + " must be 0 or more");
  // Grids have even sides of at least 2 (the 2x2 pixel shuffle follows).
  if (e.min_patches < 4 || e.max_patches < e.min_patches)
    p.add("model.encoder.min_patches=" + std::to_string(e.min_patches) + " and max_patches=" +
          std::to_string(e.max_patches) + " must satisfy 4 <= min <= max (grids are at least 2x2 patches)");
  // Image rows may use at most half of the sequence; an image that can never
  // fit would silently make every sample text-only.
  const int fewest_rows = std::max(1, e.min_patches / 4);
  if (d.max_images_per_sample > 0 && fewest_rows > r.llm.seq_length / 2)
    p.add("model.encoder.min_patches=" + std::to_string(e.min_patches) + " gives at least " +
          std::to_string(fewest_rows) + " image rows (min_patches / 4 after the 2x2 pixel shuffle), more than half of "
          "model.llm.seq_length=" + std::to_string(r.llm.seq_length) + "; no image would fit in a sample");
}

fs::path locate_recipe_file(const std::string& recipe) {
  fs::path p(recipe);
  if (fs::is_directory(p)) p /= "recipe.yaml";
  if (!fs::exists(p)) {
    throw ConfigError("recipe '" + recipe + "' not found (looked for " + p.string() +
                      "); pass a recipe directory such as recipes/nemotron_20l or its recipe.yaml");
  }
  return p;
}

}  // namespace

namespace {

// Seconds of a Slurm time limit written [D-]HH:MM:SS, or -1 if it is not one.
long slurm_time_seconds(const std::string& text) {
  static const std::regex re(R"(^(?:(\d+)-)?(\d{1,2}):(\d{2}):(\d{2})$)");
  std::smatch m;
  if (!std::regex_match(text, m, re)) return -1;
  const long days = m[1].matched ? std::stol(m[1].str()) : 0;
  const long h = std::stol(m[2].str()), min = std::stol(m[3].str()), sec = std::stol(m[4].str());
  if (min > 59 || sec > 59 || (m[1].matched && h > 23)) return -1;
  return ((days * 24 + h) * 60 + min) * 60 + sec;
}

// Options the rendered script sets itself, so an extra line must not: the
// topology, the time limit and the requeue protocol depend on them.
const std::vector<std::pair<std::string, std::string>> kRenderedSbatchOptions = {
    {"--nodes", "the scale's nodes"},           {"-N", "the scale's nodes"},
    {"--ntasks", "the scale's ranks"},          {"-n", "the scale's ranks"},
    {"--ntasks-per-node", "the scale's gpus_per_node"},
    {"--gpus-per-node", "the scale's gpus_per_node"},
    {"--gpus", "the scale's gpus_per_node"},    {"-G", "the scale's gpus_per_node"},
    {"--time", "--time or launch.time"},        {"-t", "--time or launch.time"},
    {"--signal", "launch.signal_seconds"},      {"--requeue", "launch.max_requeues"},
    {"--no-requeue", "launch.max_requeues=0"},  {"--output", "the run directory"},
    {"-o", "the run directory"},                {"--error", "the run directory"},
    {"-e", "the run directory"},                {"--open-mode", "the run directory"},
    {"--account", "--account or launch.account"}, {"-A", "--account or launch.account"},
    {"--partition", "--partition or launch.partition"}, {"-p", "--partition or launch.partition"}};

}  // namespace

int LlmArch::count_layers(char kind) const {
  return static_cast<int>(std::count(hybrid_override_pattern.begin(), hybrid_override_pattern.end(), kind));
}

void check_launch(const LaunchConfig& l, ProblemList& p) {
  const long limit = slurm_time_seconds(l.time);
  if (limit < 0)
    p.add("launch.time (--time) '" + l.time + "' is not a Slurm time limit [D-]HH:MM:SS; write e.g. 04:00:00 or 1-12:00:00");
  else if (limit == 0)
    p.add("launch.time (--time) '" + l.time + "' is zero; give the job some time, e.g. 04:00:00");
  if (l.signal_seconds < 1 || l.signal_seconds > 65535)
    p.add("launch.signal_seconds=" + std::to_string(l.signal_seconds) +
          " must be between 1 and 65535 (Slurm's --signal limit); 300 leaves five minutes to stop");
  else if (limit > 0 && l.signal_seconds >= limit)
    p.add("launch.signal_seconds=" + std::to_string(l.signal_seconds) + " is not below the time limit " + l.time +
          " (" + std::to_string(limit) + " s), so USR1 would come at the start; lower it or raise --time");
  if (l.max_requeues < 0)
    p.add("launch.max_requeues=" + std::to_string(l.max_requeues) + " must be 0 (never requeue) or more");
  if (l.port < 1024 || l.port > 65535)
    p.add("launch.port=" + std::to_string(l.port) + " must be an unprivileged TCP port, 1024 to 65535 (e.g. 29500)");
  if (l.device != "cuda" && l.device != "cpu")
    p.add("launch.device '" + l.device + "' must be cuda (one GPU per task) or cpu (no GPUs requested)");
  static const std::regex name_re(R"(^[A-Za-z0-9_.-]+$)");
  for (auto [key, flag, value] : {std::tuple<const char*, const char*, std::string>{"account", "--account", l.account},
                                  {"partition", "--partition", l.partition}}) {
    if (!value.empty() && !std::regex_match(value, name_re))
      p.add(std::string("launch.") + key + " (" + flag + ") '" + value +
            "' must be a Slurm name of letters, digits, '_', '.' or '-' (one name; no spaces or commas)");
  }
  static const std::regex env_re(R"(^[A-Za-z_][A-Za-z0-9_]*$)");
  for (const auto& [name, value] : l.env) {
    if (!std::regex_match(name, env_re))
      p.add("launch.env." + name + ": '" + name + "' is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
    else if (name == "MASTER_ADDR" || name == "MASTER_PORT")
      p.add("launch.env." + name + ": the script sets " + name +
            " itself (the first host of the allocation, launch.port); remove it" +
            (name == "MASTER_PORT" ? " and set launch.port instead" : ""));
    else if (name.rfind("SLURM_", 0) == 0)
      p.add("launch.env." + name + ": SLURM_* variables come from Slurm; remove it");
    if (value.find('\n') != std::string::npos)
      p.add("launch.env." + name + ": the value holds a newline; give a one-line value");
  }
  for (const auto& line : l.sbatch_extra) {
    if (line.rfind("#SBATCH ", 0) != 0 || line.size() <= 8) {
      p.add("extra sbatch line '" + line + "' (--sbatch-extra or launch.sbatch_extra) must start with \"#SBATCH \" " +
            "followed by an option, e.g. \"#SBATCH --qos=high\"");
      continue;
    }
    if (line.find('\n') != std::string::npos || line.find('\r') != std::string::npos) {
      p.add("extra sbatch line '" + line + "' holds a line break; give one #SBATCH line per value");
      continue;
    }
    std::string option = line.substr(8);
    option.erase(0, option.find_first_not_of(' '));
    if (option.empty() || option[0] != '-') {
      p.add("extra sbatch line '" + line + "' must give an option after #SBATCH, e.g. \"#SBATCH --qos=high\"");
      continue;
    }
    const std::string name = option.substr(0, option.find_first_of("= \t"));
    for (const auto& [reserved, from] : kRenderedSbatchOptions) {
      // Short options may be glued to their value (-t04:00:00); sbatch takes
      // unambiguous prefixes of long ones (--part=gpu).
      const bool is_short = reserved.size() == 2 && reserved[1] != '-';
      const bool hit = name == reserved || (is_short && name.rfind(reserved, 0) == 0) ||
                       (!is_short && name.size() >= 4 && name.rfind("--", 0) == 0 && reserved.rfind(name, 0) == 0);
      if (hit) {
        p.add("extra sbatch line '" + line + "' sets " + reserved + ", which the script already sets from " + from +
              "; remove the line and change " + from + " instead");
        break;
      }
    }
  }
}

std::pair<std::vector<std::string>, std::string> parse_override(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError("--set '" + text + "' must look like key.path=value, e.g. scales.tiny.llm.tp=2");
  std::vector<std::string> path;
  std::stringstream ss(text.substr(0, eq));
  std::string part;
  while (std::getline(ss, part, '.')) {
    if (part.empty()) throw ConfigError("--set '" + text + "' has an empty key segment");
    path.push_back(part);
  }
  return {path, text.substr(eq + 1)};
}

Recipe load_recipe(const std::string& recipe, const std::string& scale_name,
                   const std::vector<std::string>& overrides) {
  const fs::path file = locate_recipe_file(recipe);
  YAML::Node root;
  try {
    root = YAML::LoadFile(file.string());
  } catch (const YAML::Exception& e) {
    throw ConfigError("recipe " + file.string() + " is not valid YAML: " + e.what());
  }
  if (!root.IsMap()) throw ConfigError("recipe " + file.string() + " must be a YAML map at the top level");
  for (const auto& o : overrides) apply_override(root, o);

  ProblemList problems;
  Recipe r;
  r.file = file.string();
  MapReader top(root, "", problems);
  r.name = top.req_string("name");
  r.seed = top.req_u64("seed");

  // Every scale is checked for unknown keys, not only the chosen one.
  MapReader scales = top.child("scales");
  for (const auto& name : scales.keys()) {
    r.scale_names.push_back(name);
    ScaleConfig sc = read_scale(scales.child(name), name, problems);
    if (name == scale_name) r.scale = sc;
  }
  scales.finish();
  if (r.scale.name.empty()) {
    std::string known;
    for (const auto& n : r.scale_names) known += (known.empty() ? "" : ", ") + n;
    problems.add("unknown scale '" + scale_name + "' for recipe " + r.name + " (scales: " + known + ")");
    problems.throw_if_any();
  }

  const YAML::Node scale_node = root["scales"][scale_name];
  // The scale's model/data/train sections override the top-level ones, and a
  // --set of model.*, data.* or train.* wins over both: what the user typed
  // last is what runs.
  const YAML::Node& croot = root;
  YAML::Node merged(YAML::NodeType::Map);
  for (const char* section : {"model", "data", "train", "launch"}) {
    YAML::Node base = croot[section] ? YAML::Clone(croot[section]) : YAML::Node();
    const YAML::Node over = scale_node && scale_node[section] ? scale_node[section] : YAML::Node();
    if (std::string(section) == "train") drop_replaced_units(base, over);
    merged[section] = merge_over(base, over);
  }
  for (const auto& o : overrides) {
    const auto path = parse_override(o).first;
    if (path.size() > 1 && (path[0] == "model" || path[0] == "data" || path[0] == "train" || path[0] == "launch"))
      apply_override(merged, o);
  }
  const YAML::Node model = merged["model"], data = merged["data"], train = merged["train"],
                   launch = merged["launch"];
  MapReader model_reader(model, "model", problems);
  r.llm = read_llm(model_reader.child("llm"));
  r.encoder = read_encoder(model_reader.child("encoder"));
  model_reader.finish();
  top.mark_asked("model");
  r.data = read_data(MapReader(data, "data", problems));
  top.mark_asked("data");
  r.train = read_train(MapReader(train, "train", problems), problems);
  top.mark_asked("train");
  // A recipe without a launch section gets the defaults of LaunchConfig.
  r.launch = read_launch(MapReader(launch && !launch.IsNull() ? launch : YAML::Node(), "launch", problems), problems);
  top.mark_asked("launch");
  top.finish();
  problems.throw_if_any();
  check_values(r, problems);
  check_launch(r.launch, problems);
  problems.throw_if_any();
  make_lr_schedule(r.train);  // the schedule's own rules (styles, lengths), with every bad value named

  r.resolved = YAML::Node(YAML::NodeType::Map);
  r.resolved["name"] = r.name;
  r.resolved["seed"] = r.seed;
  r.resolved["recipe_file"] = r.file;
  r.resolved["model"] = model;
  r.resolved["data"] = data;
  r.resolved["train"] = train;
  if (launch && !launch.IsNull()) r.resolved["launch"] = launch;
  YAML::Node scale_copy = YAML::Clone(scale_node);
  for (const char* section : {"model", "data", "train", "launch"}) scale_copy.remove(section);
  r.resolved["scale"] = scale_copy;
  r.resolved["scale"]["name"] = scale_name;
  YAML::Node ov(YAML::NodeType::Sequence);
  for (const auto& o : overrides) ov.push_back(o);
  r.resolved["overrides"] = ov;
  return r;
}

}  // namespace hetero
