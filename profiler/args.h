// hetero-profile's command line (Boost.Program_options through hetero/cli.h).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace hetero::profiler {

struct ProfileArgs {
  bool suggest = false;            // `hetero-profile suggest RUN --nodes N`
  std::string run;                 // RUN (positional), or --run with --nsys
  std::vector<std::string> nsys;   // --nsys FILE.sqlite ... (rank order)
  int warmup = 1;
  std::optional<int> iter;
  int top = 5;
  double z_threshold = 2.0;
  bool json = false;
  std::string html;
  bool brief = false;
  int path_segments = 40;
  int nodes = 0;                   // suggest
  int gpus_per_node = 0;           // suggest: 0 = from config.yaml
};

extern const char* kUsage;

// Parses argv (argv[0] the program). Returns nullopt after printing help;
// throws ConfigError on a bad command line.
std::optional<ProfileArgs> parse_profile_args(int argc, const char* const* argv);

}  // namespace hetero::profiler
