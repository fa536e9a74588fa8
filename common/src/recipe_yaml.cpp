// Reading a recipe file: where it is, and its YAML tree.
#include <filesystem>

#include "hetero/errors.h"
#include "recipe_parts.h"

namespace fs = std::filesystem;

namespace hetero::detail {

std::string locate_recipe_file(const std::string& recipe) {
  fs::path p(recipe);
  if (fs::is_directory(p)) p /= "recipe.yaml";
  if (!fs::exists(p)) {
    throw ConfigError("recipe '" + recipe + "' not found (looked for " + p.string() +
                      "); pass a recipe directory such as recipes/nemotron_20l or its recipe.yaml");
  }
  return p.string();
}


YAML::Node read_recipe_yaml(const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(file);
  } catch (const YAML::Exception& e) {
    throw ConfigError("recipe " + file + " is not valid YAML: " + e.what());
  }
  if (!root.IsMap()) throw ConfigError("recipe " + file + " must be a YAML map at the top level");
  return root;
}

}  // namespace hetero::detail
