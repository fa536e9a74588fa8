#include "checkpoint/resume.h"

#include <filesystem>
#include <iostream>
#include <map>

#include <ATen/core/grad_mode.h>

#include "hetero/errors.h"
#include "hetero/shape_text.h"

namespace hetero {
namespace fs = std::filesystem;

namespace {

// Every scalar under `node` as "a.b.c" -> its text.
void flatten(const YAML::Node& node, const std::string& prefix, std::map<std::string, std::string>& out) {
  if (node.IsMap()) {
    for (const auto& kv : node) flatten(kv.second, prefix + "." + kv.first.as<std::string>(), out);
  } else if (node.IsSequence()) {
    YAML::Emitter e;
    e << YAML::Flow << node;
    out[prefix] = e.c_str();
  } else if (node.IsScalar()) {
    out[prefix] = node.Scalar();
  }
}

// The keys of model.* and train.global_batch_size whose values differ
// between the checkpoint's config and this run's recipe, as one text.
std::string differing_keys(const YAML::Node& saved, const YAML::Node& now) {
  std::map<std::string, std::string> a, b;
  flatten(saved["model"], "model", a);
  flatten(now["model"], "model", b);
  a["train.global_batch_size"] = saved["train"]["global_batch_size"].as<std::string>("?");
  b["train.global_batch_size"] = now["train"]["global_batch_size"].as<std::string>("?");
  std::string out;
  for (const auto& [key, value] : b) {
    const auto it = a.find(key);
    const std::string was = it == a.end() ? "(absent)" : it->second;
    if (was != value) out += "\n  " + key + ": " + value + " here, " + was + " in the checkpoint";
  }
  for (const auto& [key, value] : a)
    if (!b.count(key)) out += "\n  " + key + ": (absent) here, " + value + " in the checkpoint";
  return out;
}

std::vector<int64_t> global_shape(const Param& p) {
  std::vector<int64_t> shape = p.value.sizes().vec();
  if (p.tp_shard_dim >= 0) shape[p.tp_shard_dim] *= p.shards;
  return shape;
}

}  // namespace

std::string resolve_resume(const std::string& resume, const RunPaths& paths) {
  if (resume == "none") return "";
  if (resume == "auto") {
    const std::optional<int> latest = read_latest(paths.checkpoints_dir());
    return latest ? paths.checkpoint_dir(*latest) : "";
  }
  if (resume.empty())
    throw ConfigError("--resume is empty: give auto (the run's latest checkpoint), none, or a checkpoint folder");
  if (!fs::is_directory(resume))
    throw ConfigError("--resume " + resume + ": no such folder; give auto, none, or a checkpoint folder such as " +
                      paths.checkpoint_dir(100));
  if (!fs::exists(checkpoint_manifest_path(resume)))
    throw ConfigError("--resume " + resume + ": not a complete checkpoint (no manifest.json); " +
                      checkpoint_alternatives(fs::path(resume).parent_path().string()));
  return resume;
}

void check_checkpoint_fits(CheckpointSource& source, const std::vector<ModuleState>& modules,
                           const YAML::Node& recipe) {
  std::string tensors;
  int wrong = 0;
  auto note = [&](const std::string& what) {
    if (++wrong <= 5) tensors += "\n  " + what;
  };
  for (const ModuleState& m : modules) {
    for (const Param& p : *m.params) {
      if (!source.has(p.name))
        note(p.name + " " + shape_text(global_shape(p)) + " is not in the checkpoint");
      else if (source.global_shape(p.name) != global_shape(p))
        note(p.name + " is " + shape_text(global_shape(p)) + " here, " + shape_text(source.global_shape(p.name)) +
             " in the checkpoint");
    }
    for (const auto& [name, tensor] : m.buffers)
      if (!source.has(name)) note(name + " is not in the checkpoint");
  }
  YAML::Node saved;
  try {
    saved = YAML::Load(source.manifest().config_yaml);
  } catch (const YAML::Exception& e) {
    throw CheckpointError(source.describe() + ": the manifest's config is not valid YAML (" + e.what() + ")");
  }
  const std::string keys = differing_keys(saved, recipe);
  const bool batch_differs = keys.find("train.global_batch_size") != std::string::npos;
  if (wrong == 0 && !batch_differs) return;
  std::string msg = source.describe() + " was not made for this model and cannot be resumed:";
  if (wrong > 0) msg += tensors + (wrong > 5 ? "\n  ... and " + std::to_string(wrong - 5) + " more tensors" : "");
  msg += keys.empty() ? "\nthe recipes agree on model.*: the checkpoint is not from this recipe's code version"
                      : "\nrecipe keys that differ:" + keys;
  if (batch_differs) msg += "\n(samples are named by global index: the global batch size must stay the same)";
  msg += "\nfix: resume with the checkpoint's recipe values (--set KEY=VALUE), or start fresh with --resume none";
  throw CheckpointError(msg);
}

CheckpointProgress load_checkpoint(CheckpointSource& source, std::vector<ModuleState>& modules, bool logs) {
  const CheckpointProgress& saved = source.manifest().progress;
  for (ModuleState& m : modules) {
    load_params(*m.params, source);
    load_buffers(m.buffers, source);
    if (!m.optimizer) continue;
    const auto steps = saved.optimizer_steps.find(m.module);
    if (steps == saved.optimizer_steps.end()) {
      if (logs)
        std::cout << "hetero-train: " << source.describe() << " has no optimizer state for the " << m.module
                  << " (it was frozen when saved): its AdamW starts fresh" << std::endl;
      continue;
    }
    m.optimizer->load_state(
        [&](const std::string& moment, const Param& p) {
          const at::Tensor t = source.shard(moment_tensor_name(moment, p.name), p);
          if (!t.defined())
            throw CheckpointError(source.describe() + " has no " + moment + " for " + p.name +
                                  " although it holds the " + m.module +
                                  "'s optimizer state (a rank's files or manifest entries are missing)");
          return t;
        },
        steps->second);
  }
  return saved;
}

}  // namespace hetero
