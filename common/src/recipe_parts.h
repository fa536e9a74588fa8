// The pieces load_recipe (recipe.cpp) is built from, one file per job:
//   recipe_yaml.cpp       reading the file (YAML)
//   recipe_overrides.cpp  --set overrides and the merge of a scale over the top level
//   recipe_sections.cpp   typed readers of each section
//   recipe_rules.cpp      value rules that need no topology
// (Topology rules are topology.cpp's; the sbatch rules are launch/'s.)
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "hetero/recipe.h"
#include "recipe_reader.h"

namespace hetero::detail {

// recipe_yaml.cpp: the recipe.yaml of a recipe directory (or the file
// itself), and its YAML tree.
std::string locate_recipe_file(const std::string& recipe);
YAML::Node read_recipe_yaml(const std::string& file);

// recipe_overrides.cpp
// A schedule length is given either in iterations or in samples: the pairs.
extern const std::vector<std::pair<std::string, std::string>> kScheduleUnits;
// The counterpart unit of a schedule key (train_iters <-> train_samples), or "".
std::string other_unit(const std::string& key);
// Drops from `base` (a train section) the counterpart of every schedule key `over` sets.
void drop_replaced_units(YAML::Node& base, const YAML::Node& over);
// `over` merged into a copy of `base`, maps key by key.
YAML::Node merge_over(const YAML::Node& base, const YAML::Node& over);
// Applies one --set "a.b=v" to the tree.
void apply_override(YAML::Node& root, const std::string& text);
// The model/data/train/launch sections as scale `scale` runs them: the
// scale's sections over the top level, the --set overrides of those
// sections over both.
YAML::Node merged_sections(const YAML::Node& root, const std::string& scale, const std::vector<std::string>& overrides);

// recipe_sections.cpp
LlmArch read_llm(MapReader m);
EncoderArch read_encoder(MapReader m);
DataConfig read_data(MapReader m);
TrainConfig read_train(MapReader m, ProblemList& p);
LaunchConfig read_launch(MapReader m, ProblemList& p);
ScaleConfig read_scale(MapReader m, const std::string& name, ProblemList& problems);

// recipe_rules.cpp
void check_llm(const LlmArch& a, ProblemList& p);
void check_encoder_variants(const EncoderArch& e, ProblemList& p);
void check_values(const Recipe& r, ProblemList& p);

}  // namespace hetero::detail
