#include "hetero/recipe.h"

#include <filesystem>
#include <set>
#include <sstream>

#include "hetero/errors.h"

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
  bool has(const std::string& k) const { return node_ && node_[k] && !node_[k].IsNull(); }

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
}

LlmArch read_llm(MapReader m) {
  LlmArch a;
  a.num_layers = m.req_int("num_layers");
  a.hidden_size = m.req_int("hidden_size");
  a.num_attention_heads = m.req_int("num_attention_heads");
  a.ffn_hidden_size = m.req_int("ffn_hidden_size");
  a.vocab_size = m.req_int("vocab_size");
  a.seq_length = m.req_int("seq_length");
  a.num_experts = m.opt_int("num_experts", 0);
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
  a.max_grid_side = m.req_int("max_grid_side");
  m.finish();
  return a;
}

DataConfig read_data(MapReader m) {
  DataConfig d;
  d.seed = m.req_u64("seed");
  d.max_images_per_sample = m.req_int("max_images_per_sample");
  d.text_only_fraction = m.req_double("text_only_fraction");
  d.image_min_side = m.req_int("image_min_side");
  d.image_max_side = m.req_int("image_max_side");
  m.finish();
  return d;
}

TrainConfig read_train(MapReader m) {
  TrainConfig t;
  t.global_batch_size = m.req_int("global_batch_size");
  t.micro_batch_size = m.req_int("micro_batch_size");
  t.train_iters = m.req_int("train_iters");
  t.lr = m.req_double("lr");
  t.min_lr = m.opt_double("min_lr", 0.0);
  t.lr_warmup_iters = m.opt_int("lr_warmup_iters", 0);
  t.lr_decay_style = m.opt_string("lr_decay_style", "constant");
  t.weight_decay = m.opt_double("weight_decay", 0.0);
  t.adam_beta1 = m.opt_double("adam_beta1", 0.9);
  t.adam_beta2 = m.opt_double("adam_beta2", 0.999);
  t.adam_eps = m.opt_double("adam_eps", 1e-8);
  t.clip_grad = m.opt_double("clip_grad", 0.0);
  t.encoder_run_ahead = m.opt_int("encoder_run_ahead", 1);
  m.finish();
  return t;
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
  if (d.image_min_side < 1 || d.image_min_side > d.image_max_side)
    p.add("data.image_min_side=" + std::to_string(d.image_min_side) + " and data.image_max_side=" +
          std::to_string(d.image_max_side) + " must satisfy 1 <= min <= max");
  if (d.image_max_side > r.encoder.max_grid_side)
    p.add("data.image_max_side=" + std::to_string(d.image_max_side) + " exceeds model.encoder.max_grid_side=" +
          std::to_string(r.encoder.max_grid_side) + " (the position table); lower the one or raise the other");
  // Image rows may use at most half of the sequence; an image that can never
  // fit would silently make every sample text-only.
  if (d.max_images_per_sample > 0 && d.image_min_side * d.image_min_side > r.llm.seq_length / 2)
    p.add("data.image_min_side=" + std::to_string(d.image_min_side) + " gives at least " +
          std::to_string(d.image_min_side * d.image_min_side) + " image rows, more than half of model.llm.seq_length=" +
          std::to_string(r.llm.seq_length) + "; no image would fit in a sample");
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
  YAML::Node merged(YAML::NodeType::Map);
  for (const char* section : {"model", "data", "train"})
    merged[section] = merge_over(root[section], scale_node[section]);
  for (const auto& o : overrides) {
    const auto path = parse_override(o).first;
    if (path.size() > 1 && (path[0] == "model" || path[0] == "data" || path[0] == "train"))
      apply_override(merged, o);
  }
  const YAML::Node model = merged["model"], data = merged["data"], train = merged["train"];
  MapReader model_reader(model, "model", problems);
  r.llm = read_llm(model_reader.child("llm"));
  r.encoder = read_encoder(model_reader.child("encoder"));
  model_reader.finish();
  top.mark_asked("model");
  r.data = read_data(MapReader(data, "data", problems));
  top.mark_asked("data");
  r.train = read_train(MapReader(train, "train", problems));
  top.mark_asked("train");
  top.finish();
  problems.throw_if_any();
  check_values(r, problems);
  problems.throw_if_any();

  r.resolved = YAML::Node(YAML::NodeType::Map);
  r.resolved["name"] = r.name;
  r.resolved["seed"] = r.seed;
  r.resolved["recipe_file"] = r.file;
  r.resolved["model"] = model;
  r.resolved["data"] = data;
  r.resolved["train"] = train;
  YAML::Node scale_copy = YAML::Clone(scale_node);
  for (const char* section : {"model", "data", "train"}) scale_copy.remove(section);
  r.resolved["scale"] = scale_copy;
  r.resolved["scale"]["name"] = scale_name;
  YAML::Node ov(YAML::NodeType::Sequence);
  for (const auto& o : overrides) ov.push_back(o);
  r.resolved["overrides"] = ov;
  return r;
}

}  // namespace hetero
