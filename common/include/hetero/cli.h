// Command-line pieces shared by every executable (Boost.Program_options).
#pragma once

#include <set>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

namespace hetero {

struct RecipeArgs {
  std::string recipe;
  std::string scale;
  std::vector<std::string> overrides;  // --set key.path=value, in order
};

// --recipe, --scale (default tiny) and repeatable --set.
void add_recipe_options(boost::program_options::options_description& desc, RecipeArgs& args);

// Parses argv into `desc`'s variables. Prints help and returns false for
// --help; throws ConfigError naming the bad flag otherwise.
bool parse_command_line(int argc, const char* const* argv, const boost::program_options::options_description& desc,
                        const std::string& program,
                        const boost::program_options::positional_options_description* positional = nullptr);

// Parses a flag's comma-separated iteration list ("1,2,10"), each at least
// `first`; throws ConfigError naming the flag, the bad item and the form.
std::set<int> parse_iteration_list(const std::string& flag, const std::string& text, int first);

}  // namespace hetero
