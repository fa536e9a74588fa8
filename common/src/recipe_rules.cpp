// The recipe's value rules that need no topology, one problem each: the
// value, the rule and the fix. (Topology rules: topology.cpp; the sbatch
// script's own rules: launch/sbatch_rules.cpp.)
#include <algorithm>
#include <regex>
#include <sstream>
#include <tuple>

#include "hetero/errors.h"
#include "hetero/split_rules.h"
#include "recipe_parts.h"

namespace hetero {
namespace detail {

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
  // The grouped widths (query groups, Mamba-2 groups); the degrees are the plan's.
  check_divisibility(llm_divisibility(a, {}, "model.llm"), p);
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

namespace {

std::string number_text(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// Every size of the architecture is at least 1 (head_dim: 0 derives it).
void check_sizes(const Recipe& r, ProblemList& p) {
  auto at_least = [&](const std::string& key, int v, int least) {
    if (v < least)
      p.add(key + "=" + std::to_string(v) + " must be at least " + std::to_string(least) +
            (least == 0 ? " (0: derived)" : ""));
  };
  const LlmArch& a = r.llm;
  for (auto [key, v] : {std::pair<const char*, int>{"num_layers", a.num_layers}, {"hidden_size", a.hidden_size},
                        {"vocab_size", a.vocab_size}, {"seq_length", a.seq_length},
                        {"num_attention_heads", a.num_attention_heads}, {"num_query_groups", a.num_query_groups},
                        {"ffn_hidden_size", a.ffn_hidden_size}, {"mamba_num_heads", a.mamba_num_heads},
                        {"mamba_head_dim", a.mamba_head_dim}, {"ssm_state_size", a.ssm_state_size},
                        {"n_groups", a.n_groups}, {"conv_kernel", a.conv_kernel}, {"chunk_size", a.chunk_size}})
    at_least(std::string("model.llm.") + key, v, 1);
  at_least("model.llm.head_dim", a.head_dim, 0);
  at_least("model.llm.n_routed_experts", a.num_experts, 0);
  at_least("model.llm.moe_shared_expert_intermediate_size", a.moe_shared_expert_intermediate_size, 0);
  const EncoderArch& e = r.encoder;
  for (auto [key, v] : {std::pair<const char*, int>{"num_layers", e.num_layers}, {"hidden_size", e.hidden_size},
                        {"num_attention_heads", e.num_attention_heads}, {"ffn_hidden_size", e.ffn_hidden_size},
                        {"patch_size", e.patch_size}, {"channels", e.channels}})
    at_least(std::string("model.encoder.") + key, v, 1);
}

// The optimizer's and the schedule's ranges (a negative rate or decay trains
// away from the minimum; a beta of 1 or more never forgets).
void check_train_values(const TrainConfig& t, ProblemList& p) {
  auto rule = [&](bool ok, const std::string& key, double v, const std::string& what) {
    if (!ok) p.add("train." + key + "=" + number_text(v) + " " + what);
  };
  rule(t.lr >= 0, "lr", t.lr, "must be 0 or more (e.g. 3.0e-4)");
  rule(t.min_lr >= 0, "min_lr", t.min_lr, "must be 0 or more (e.g. 3.0e-5)");
  rule(t.lr_warmup_init >= 0, "lr_warmup_init", t.lr_warmup_init, "must be 0 or more");
  rule(t.adam_beta1 >= 0 && t.adam_beta1 < 1, "adam_beta1", t.adam_beta1, "must lie in [0, 1) (e.g. 0.9)");
  rule(t.adam_beta2 >= 0 && t.adam_beta2 < 1, "adam_beta2", t.adam_beta2, "must lie in [0, 1) (e.g. 0.95)");
  rule(t.adam_eps > 0, "adam_eps", t.adam_eps, "must be greater than 0 (e.g. 1e-8)");
  rule(t.weight_decay >= 0, "weight_decay", t.weight_decay, "must be 0 or more (e.g. 0.1)");
  // -1 (the default) stands for weight_decay.
  rule(t.start_weight_decay >= 0 || t.start_weight_decay == -1, "start_weight_decay", t.start_weight_decay,
       "must be 0 or more");
  rule(t.end_weight_decay >= 0 || t.end_weight_decay == -1, "end_weight_decay", t.end_weight_decay, "must be 0 or more");
  rule(t.clip_grad >= 0, "clip_grad", t.clip_grad, "must be 0 (no clipping) or more (e.g. 1.0)");
  if (t.max_skipped_in_a_row < 1)
    p.add("train.max_skipped_in_a_row=" + std::to_string(t.max_skipped_in_a_row) +
          " must be at least 1 (non-finite steps in a row that end the job)");
}

}  // namespace

// Value rules that need no topology: the data must fit the model.
void check_values(const Recipe& r, ProblemList& p) {
  check_sizes(r, p);
  check_train_values(r.train, p);
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

}  // namespace detail

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

}  // namespace

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
  if (l.hang_timeout_s < 0)
    p.add("launch.hang_timeout_s=" + std::to_string(l.hang_timeout_s) +
          " must be 0 (no hang detection) or more seconds (e.g. 60)");
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
}

}  // namespace hetero
