// The typed readers of each recipe section (one struct of recipe.h each).
#include <algorithm>
#include <limits>

#include "hetero/errors.h"
#include "recipe_parts.h"

namespace hetero::detail {

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

namespace {

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

}  // namespace

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
  t.max_skipped_in_a_row = m.opt_int("max_skipped_in_a_row", t.max_skipped_in_a_row);
  t.save_at_end = m.opt_bool("save_at_end", true);
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
  l.hang_timeout_s = m.opt_int("hang_timeout_s", l.hang_timeout_s);
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

namespace {

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

}  // namespace

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

}  // namespace hetero::detail
