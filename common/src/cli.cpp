#include "hetero/cli.h"

#include <iostream>
#include <sstream>

#include "hetero/errors.h"

namespace po = boost::program_options;

namespace hetero {

void add_recipe_options(po::options_description& desc, RecipeArgs& args) {
  desc.add_options()
    ("help,h", "show this help")
    ("recipe", po::value(&args.recipe)->required(), "recipe directory or recipe.yaml (e.g. recipes/nemotron_20l)")
    ("scale", po::value(&args.scale)->default_value("tiny"), "named topology of the recipe (tiny, 1n, 9n, ...)")
    ("set", po::value(&args.overrides)->composing(),
     "override a recipe key, e.g. --set scales.tiny.llm.tp=2 (repeatable)");
}

bool parse_command_line(int argc, const char* const* argv, const po::options_description& desc,
                        const std::string& program, const po::positional_options_description* positional) {
  po::variables_map vm;
  try {
    po::command_line_parser parser(argc, argv);
    parser.options(desc);
    if (positional) parser.positional(*positional);
    po::store(parser.run(), vm);
    if (vm.count("help")) {
      std::cout << desc << "\n";
      return false;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw ConfigError(std::string(e.what()) + " (see " + program + " --help)");
  }
  return true;
}

std::set<int> parse_iteration_list(const std::string& flag, const std::string& text, int first) {
  std::set<int> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      const int v = std::stoi(item, &used);
      if (used != item.size() || v < first) throw std::invalid_argument(item);
      out.insert(v);
    } catch (const std::exception&) {
      throw ConfigError(flag + " '" + text + "': '" + item + "' is not an iteration >= " + std::to_string(first) +
                        "; give a comma-separated list such as " + std::to_string(first) + ",2,10");
    }
  }
  return out;
}

}  // namespace hetero
