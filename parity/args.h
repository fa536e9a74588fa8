// Command-line details Boost.Program_options cannot express on its own.
#pragma once

#include <set>
#include <string>
#include <vector>

namespace hetero::parity {

// `--json` takes an optional FILE: "--json FILE" writes FILE, a bare "--json"
// (or "--json -") writes standard output. The token after --json is FILE only
// when the command still has its `positionals` free arguments without it
// (so `diff --json A B` reads A and B and prints JSON). Rewrites every bare
// "--json" to "--json=FILE" or "--json=-". args[0] is the command's name.
// `flags` are the options that take
// no value (all others take one unless written --opt=value); arguments after
// "--" are left alone.
std::vector<std::string> resolve_optional_value(const std::vector<std::string>& args, const std::string& option,
                                                const std::set<std::string>& flags, int positionals);

}  // namespace hetero::parity
