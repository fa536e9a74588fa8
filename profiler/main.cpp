// hetero-profile: offline analysis of a run's per-rank traces (design §8
// regions) or nsys SQLite exports: stalls and waits per module and
// iteration, stragglers, the critical path, an HTML timeline, and the
// encoder/LLM node split (suggest). See profiler/README.md.
#include <iostream>

#include "args.h"
#include "hetero/errors.h"
#include "profile.h"

int main(int argc, char** argv) {
  using namespace hetero;
  try {
    const auto args = profiler::parse_profile_args(argc, argv);
    if (!args) return 0;
    return profiler::run_profile(*args, std::cout);
  } catch (const ConfigError& e) {
    std::cerr << "hetero-profile: " << e.what() << std::endl;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "hetero-profile: error: " << e.what() << std::endl;
    return 1;
  }
}
