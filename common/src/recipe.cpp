// load_recipe: the file read, the overrides applied, the chosen scale's
// sections merged, every section read and checked (recipe_parts.h).
#include "hetero/recipe.h"

#include <algorithm>

#include "hetero/errors.h"
#include "hetero/train_schedule.h"
#include "recipe_parts.h"

namespace hetero {

using namespace detail;

int LlmArch::count_layers(char kind) const {
  return static_cast<int>(std::count(hybrid_override_pattern.begin(), hybrid_override_pattern.end(), kind));
}

namespace {

// The model/data/train/launch sections of a merged tree into `r`, read and
// checked (the value rules and the schedule's); every problem into `problems`.
void read_sections(const YAML::Node& merged, Recipe& r, ProblemList& problems) {
  const YAML::Node launch = merged["launch"];
  MapReader model_reader(merged["model"], "model", problems);
  r.llm = read_llm(model_reader.child("llm"));
  r.encoder = read_encoder(model_reader.child("encoder"));
  model_reader.finish();
  r.data = read_data(MapReader(merged["data"], "data", problems));
  r.train = read_train(MapReader(merged["train"], "train", problems), problems);
  // A recipe without a launch section gets the defaults of LaunchConfig.
  r.launch = read_launch(MapReader(launch && !launch.IsNull() ? launch : YAML::Node(), "launch", problems), problems);
  if (!problems.empty()) return;  // the value rules need every value read
  ProblemList rules;
  check_values(r, rules);
  check_launch(r.launch, rules);
  try {
    rules.throw_if_any();
    make_lr_schedule(r.train);  // the schedule's own rules (styles, lengths), with every bad value named
  } catch (const ConfigError& e) {
    for (const auto& problem : e.problems()) problems.add(problem);
  }
}

// The whole file is checked whatever the scale: a bad top-level value that
// the chosen scale happens to override would otherwise surface only when a
// larger scale is first run. The other scales are checked as the file
// writes them (the --set values are meant for the scale being run), and
// their problems name their scale.
void check_other_scales(const YAML::Node& root, const Recipe& chosen) {
  std::vector<std::string> problems;
  for (const auto& name : chosen.scale_names) {
    if (name == chosen.scale.name) continue;
    ProblemList found;
    Recipe other = chosen;
    read_sections(merged_sections(root, name, {}), other, found);
    try {
      found.throw_if_any();
    } catch (const ConfigError& e) {
      for (const auto& problem : e.problems()) {
        const std::string text = "at scale " + name + " (every scale of the recipe is checked): " + problem;
        if (std::find(problems.begin(), problems.end(), text) == problems.end()) problems.push_back(text);
      }
    }
  }
  if (!problems.empty()) throw ConfigError(problems);
}

}  // namespace

Recipe load_recipe(const std::string& recipe, const std::string& scale_name,
                   const std::vector<std::string>& overrides) {
  const std::string file = locate_recipe_file(recipe);
  const YAML::Node as_written = read_recipe_yaml(file);
  YAML::Node root = YAML::Clone(as_written);
  for (const auto& o : overrides) apply_override(root, o);

  ProblemList problems;
  Recipe r;
  r.file = file;
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

  const YAML::Node merged = merged_sections(root, scale_name, overrides);
  const YAML::Node model = merged["model"], data = merged["data"], train = merged["train"],
                   launch = merged["launch"];
  top.mark_asked("model");
  top.mark_asked("data");
  top.mark_asked("train");
  top.mark_asked("launch");
  top.finish();
  read_sections(merged, r, problems);
  problems.throw_if_any();
  check_other_scales(as_written, r);

  r.resolved = YAML::Node(YAML::NodeType::Map);
  r.resolved["name"] = r.name;
  r.resolved["seed"] = r.seed;
  r.resolved["recipe_file"] = r.file;
  r.resolved["model"] = model;
  r.resolved["data"] = data;
  r.resolved["train"] = train;
  if (launch && !launch.IsNull()) r.resolved["launch"] = launch;
  YAML::Node scale_copy = YAML::Clone(root["scales"][scale_name]);
  for (const char* section : {"model", "data", "train", "launch"}) scale_copy.remove(section);
  r.resolved["scale"] = scale_copy;
  r.resolved["scale"]["name"] = scale_name;
  YAML::Node ov(YAML::NodeType::Sequence);
  for (const auto& o : overrides) ov.push_back(o);
  r.resolved["overrides"] = ov;
  return r;
}

}  // namespace hetero
