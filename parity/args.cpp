#include "args.h"

namespace hetero::parity {
namespace {
bool is_option(const std::string& a) { return a.size() > 1 && a[0] == '-'; }
}  // namespace

std::vector<std::string> resolve_optional_value(const std::vector<std::string>& args, const std::string& option,
                                                const std::set<std::string>& flags, int positionals) {
  // Pass 1: which tokens are free (positional) when `option` takes no value.
  const size_t n = args.size();
  size_t end = n;  // "--" ends the options
  std::vector<bool> free(n, false);
  for (size_t i = 1; i < n; ++i) {  // args[0] names the command
    const std::string& a = args[i];
    if (a == "--") {
      end = i;
      break;
    }
    if (a == option || !is_option(a)) {
      free[i] = !is_option(a);
      continue;
    }
    if (a.find('=') != std::string::npos || flags.count(a)) continue;
    ++i;  // the option's value
  }
  int free_count = 0;
  for (size_t i = 1; i < end; ++i) free_count += free[i] ? 1 : 0;

  // Pass 2: give each bare `option` the next free token while there are spare ones.
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) {
    if (i == 0 || i >= end || args[i] != option) {
      out.push_back(args[i]);
      continue;
    }
    if (i + 1 < end && (args[i + 1] == "-" || (free[i + 1] && free_count > positionals))) {
      if (free[i + 1]) --free_count;
      out.push_back(option + "=" + args[i + 1]);
      ++i;
    } else {
      out.push_back(option + "=-");
    }
  }
  return out;
}

}  // namespace hetero::parity
