// Small statistics used across the report.
#pragma once

#include <vector>

namespace hetero::profiler {

// Median; the mean of the two middle values for an even count; 0 if empty.
double median(std::vector<double> v);

struct MeanStd {
  double mean = 0, std = 0;  // population standard deviation
};
MeanStd mean_std(const std::vector<double>& v);

inline double ns_to_ms(double ns) { return ns / 1e6; }

}  // namespace hetero::profiler
