// hetero-profile: offline analysis of a run directory. So far it summarises
// metrics.jsonl; trace analysis (design §8 regions) comes with the profiler
// issue.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <vector>

#include <boost/program_options.hpp>

#include "hetero/cli.h"
#include "hetero/errors.h"
#include "hetero/run_dir.h"

namespace po = boost::program_options;
using namespace hetero;

namespace {
double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
}  // namespace

int main(int argc, char** argv) {
  try {
    std::string run;
    int warmup = 0;
    po::options_description desc("hetero-profile RUN: summarise a run directory\nOptions");
    desc.add_options()("help,h", "show this help")("run", po::value(&run)->required(), "run directory")(
        "warmup", po::value(&warmup)->default_value(1), "iterations left out of the medians");
    po::positional_options_description pos;
    pos.add("run", 1);
    if (!parse_command_line(argc, argv, desc, "hetero-profile", &pos)) return 0;
    const auto metrics = read_metrics(RunPaths{run}.metrics());
    std::vector<double> step, stall, wait;
    for (const auto& m : metrics)
      if (m.iter > warmup) {
        step.push_back(m.iter_time_ms);
        stall.push_back(m.encoder_stall_ms);
        wait.push_back(m.bridge_wait_ms);
      }
    if (step.empty()) throw ConfigError("run " + run + " has no iterations after --warmup=" + std::to_string(warmup));
    const double s = median(step);
    std::printf("run %s: %zu iterations (%zu after warm-up)\n", run.c_str(), metrics.size(), step.size());
    std::printf("  step time        %10.1f ms (median)\n", s);
    std::printf("  encoder stall    %10.1f ms  %5.1f%%\n", median(stall), s > 0 ? 100 * median(stall) / s : 0.0);
    std::printf("  bridge wait      %10.1f ms  %5.1f%%\n", median(wait), s > 0 ? 100 * median(wait) / s : 0.0);
    return 0;
  } catch (const ConfigError& e) {
    std::cerr << "hetero-profile: " << e.what() << std::endl;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "hetero-profile: error: " << e.what() << std::endl;
    return 1;
  }
}
