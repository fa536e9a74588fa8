// Errors raised at the borders (CLI, recipe, topology, data).
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace hetero {

// A user-facing configuration error. Carries every violated rule so the user
// fixes them all in one pass instead of one per run.
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<std::string> problems);
  explicit ConfigError(const std::string& problem)
      : ConfigError(std::vector<std::string>{problem}) {}
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::vector<std::string> problems_;
};

// Collects problems during validation, then throws them together.
class ProblemList {
 public:
  void add(std::string problem) { problems_.push_back(std::move(problem)); }
  bool empty() const { return problems_.empty(); }
  void throw_if_any() const;

 private:
  std::vector<std::string> problems_;
};

}  // namespace hetero
