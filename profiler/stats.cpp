#include "stats.h"

#include <algorithm>
#include <cmath>

namespace hetero::profiler {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  const std::size_t n = v.size();
  std::nth_element(v.begin(), v.begin() + n / 2, v.end());
  const double hi = v[n / 2];
  if (n % 2) return hi;
  const double lo = *std::max_element(v.begin(), v.begin() + n / 2);
  return 0.5 * (lo + hi);
}

MeanStd mean_std(const std::vector<double>& v) {
  MeanStd r;
  if (v.empty()) return r;
  double sum = 0;
  for (double x : v) sum += x;
  r.mean = sum / static_cast<double>(v.size());
  double sq = 0;
  for (double x : v) sq += (x - r.mean) * (x - r.mean);
  r.std = std::sqrt(sq / static_cast<double>(v.size()));
  return r;
}

}  // namespace hetero::profiler
