// Counter-based random numbers: a value depends only on (key, index), never
// on which rank asks or in what order. This is what makes data and initial
// weights independent of the topology (design §4).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

namespace hetero {

inline std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

inline std::uint64_t mix(std::uint64_t a, std::uint64_t b) { return splitmix64(a ^ splitmix64(b)); }

// FNV-1a, to turn parameter names into keys.
inline std::uint64_t hash_name(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// A stream of values keyed by `key`; value i is a pure function of (key, i).
class CounterRng {
 public:
  explicit CounterRng(std::uint64_t key) : key_(key) {}
  std::uint64_t bits(std::uint64_t i) const { return mix(key_, i); }
  // Uniform in [0, 1).
  double uniform(std::uint64_t i) const { return (bits(i) >> 11) * (1.0 / 9007199254740992.0); }
  // Integer in [lo, hi].
  int uniform_int(std::uint64_t i, int lo, int hi) const {
    return lo + static_cast<int>(bits(i) % static_cast<std::uint64_t>(hi - lo + 1));
  }
  // Standard normal (Box-Muller on two uniforms).
  double normal(std::uint64_t i) const {
    const double u1 = 1.0 - uniform(2 * i), u2 = uniform(2 * i + 1);
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  std::uint64_t key_;
};

}  // namespace hetero
