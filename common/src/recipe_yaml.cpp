// Reading a recipe file: where it is, and its YAML tree.
#include <filesystem>
#include <map>

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


namespace {

// yaml-cpp keeps both entries of a key written twice and answers with the
// first; a recipe whose later line silently loses is refused instead.
void find_duplicate_keys(const YAML::Node& node, const std::string& path, const std::string& file,
                         ProblemList& problems) {
  if (node.IsSequence()) {
    for (std::size_t i = 0; i < node.size(); ++i)
      find_duplicate_keys(node[i], path + "[" + std::to_string(i) + "]", file, problems);
    return;
  }
  if (!node.IsMap()) return;
  std::map<std::string, int> first_line;
  for (const auto& kv : node) {
    const std::string key = kv.first.Scalar();
    const std::string full = path.empty() ? key : path + "." + key;
    const int line = kv.first.Mark().line + 1;
    const auto [it, fresh] = first_line.emplace(key, line);
    if (!fresh)
      problems.add("recipe " + file + ": key '" + full + "' is given twice (lines " + std::to_string(it->second) +
                   " and " + std::to_string(line) + "); keep one");
    find_duplicate_keys(kv.second, full, file, problems);
  }
}

}  // namespace

YAML::Node read_recipe_yaml(const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(file);
  } catch (const YAML::Exception& e) {
    throw ConfigError("recipe " + file + " is not valid YAML: " + e.what());
  }
  if (!root.IsMap()) throw ConfigError("recipe " + file + " must be a YAML map at the top level");
  ProblemList problems;
  find_duplicate_keys(root, "", file, problems);
  problems.throw_if_any();
  return root;
}

}  // namespace hetero::detail
