// A tensor shape as messages print it: "[4, 2, 10]".
#pragma once

#include <string>

namespace hetero {

// dims: any sequence of integers (std::vector<int64_t>, at::IntArrayRef).
template <typename Dims>
std::string shape_text(const Dims& dims) {
  std::string s = "[";
  bool first = true;
  for (const auto d : dims) {
    s += (first ? "" : ", ") + std::to_string(d);
    first = false;
  }
  return s + "]";
}

}  // namespace hetero
