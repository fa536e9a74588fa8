// --set overrides and the merge of a scale's sections over the top level.
#include <sstream>

#include "hetero/errors.h"
#include "recipe_parts.h"

namespace hetero {

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

namespace detail {

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


YAML::Node merged_sections(const YAML::Node& root, const std::string& scale_name,
                           const std::vector<std::string>& overrides) {
  const YAML::Node scale_node = root["scales"][scale_name];
  // The scale's model/data/train sections override the top-level ones, and a
  // --set of model.*, data.* or train.* wins over both: what the user typed
  // last is what runs.
  YAML::Node merged(YAML::NodeType::Map);
  for (const char* section : {"model", "data", "train", "launch"}) {
    YAML::Node base = root[section] ? YAML::Clone(root[section]) : YAML::Node();
    const YAML::Node over = scale_node && scale_node[section] ? scale_node[section] : YAML::Node();
    if (std::string(section) == "train") drop_replaced_units(base, over);
    merged[section] = merge_over(base, over);
  }
  for (const auto& o : overrides) {
    const auto path = parse_override(o).first;
    if (path.size() > 1 && (path[0] == "model" || path[0] == "data" || path[0] == "train" || path[0] == "launch"))
      apply_override(merged, o);
  }
  return merged;
}

}  // namespace detail
}  // namespace hetero
