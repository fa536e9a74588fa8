// Helpers for the launch tests: run commands (with a timeout, an
// environment of their own), find the built executables, read files.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace hetero::launch_test {

struct Result {
  int exit_code = -1;  // 128+signal when killed
  bool timed_out = false;
  std::string out, err;
};

// Runs argv (argv[0] searched on PATH) with `env` added to (or, for an empty
// value, removed from) this process's environment; kills it after
// `timeout_s`. SLURM_* variables of an enclosing job are never passed on,
// except SLURM_CONF when `env` sets it.
Result run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
           double timeout_s = 60);

std::string bin(const std::string& name);     // a built executable
std::string recipe(const std::string& name);  // recipes/<name> in the source tree
std::string source_dir();                     // canonical
std::string bin_dir();                        // canonical
std::string fresh_dir(const std::string& tag);
std::string slurp(const std::string& path);
void write_file(const std::string& path, const std::string& text, bool executable = false);
std::vector<std::string> lines_of(const std::string& text);
// Replaces every occurrence of `from` in `text` with `to`.
std::string replace_all(std::string text, const std::string& from, const std::string& to);

}  // namespace hetero::launch_test
