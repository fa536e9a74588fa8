// For tests of a refusal's wording: the message of the ConfigError that
// `f` throws, or "(no error)" when it throws none.
#pragma once

#include <functional>
#include <string>

#include "hetero/errors.h"

namespace hetero::test {

inline std::string config_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace hetero::test
