// Runs the project's executables as real processes for end-to-end tests.
#pragma once

#include <string>
#include <vector>

namespace hetero::test {

struct ProcessResult {
  int exit_code = -1;
  std::string out, err;
  double seconds = 0;
};

// Path of one of the project's executables (hetero-launch, hetero-train, ...).
std::string bin(const std::string& name);
// recipes/<name> in the source tree.
std::string recipe(const std::string& name);
// A fresh, empty directory under the system temp dir.
std::string fresh_dir(const std::string& tag);

// The whole content of a file ("" when it cannot be read).
std::string slurp(const std::string& path);

// Runs argv (no shell), capturing stdout and stderr.
ProcessResult run(const std::vector<std::string>& argv);

// Processes whose command line mentions `needle` (to prove none survived).
std::vector<int> processes_mentioning(const std::string& needle);

// Lines of `text` containing `needle`.
int count_lines_with(const std::string& text, const std::string& needle);

}  // namespace hetero::test
