#include "hetero/errors.h"

namespace hetero {
namespace {
std::string join_problems(const std::vector<std::string>& problems) {
  std::string text;
  for (const auto& p : problems) {
    if (!text.empty()) text += "\n";
    text += "error: " + p;
  }
  return text;
}
}  // namespace

ConfigError::ConfigError(std::vector<std::string> problems)
    : std::runtime_error(join_problems(problems)), problems_(std::move(problems)) {}

void ProblemList::throw_if_any() const {
  if (!problems_.empty()) throw ConfigError(problems_);
}

}  // namespace hetero
