// Seeded permutations for epochs: a pure function of (key, n), the same on
// every rank and every start.
#pragma once

#include <cstdint>
#include <numeric>
#include <vector>

#include "hetero/rng.h"

namespace hetero {

// Fisher-Yates driven by a counter RNG: element i of the result depends only
// on (key, n).
inline std::vector<std::uint64_t> seeded_permutation(std::uint64_t key, std::uint64_t n) {
  std::vector<std::uint64_t> p(n);
  std::iota(p.begin(), p.end(), 0);
  const CounterRng rng(key);
  for (std::uint64_t i = n; i > 1; --i) {
    const std::uint64_t j = rng.bits(i) % i;
    std::swap(p[i - 1], p[j]);
  }
  return p;
}

}  // namespace hetero
