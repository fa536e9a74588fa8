#include "sbatch_rules.h"

#include <utility>

namespace hetero {
namespace {

// Options the rendered script sets itself, so an extra line must not: the
// topology, the time limit and the requeue protocol depend on them.
const std::vector<std::pair<std::string, std::string>> kRenderedSbatchOptions = {
    {"--nodes", "the scale's nodes"},           {"-N", "the scale's nodes"},
    {"--ntasks", "the scale's ranks"},          {"-n", "the scale's ranks"},
    {"--ntasks-per-node", "the scale's gpus_per_node"},
    {"--gpus-per-node", "the scale's gpus_per_node"},
    {"--gpus", "the scale's gpus_per_node"},    {"-G", "the scale's gpus_per_node"},
    {"--time", "--time or launch.time"},        {"-t", "--time or launch.time"},
    {"--signal", "launch.signal_seconds"},      {"--requeue", "launch.max_requeues"},
    {"--no-requeue", "launch.max_requeues=0"},  {"--output", "the run directory"},
    {"-o", "the run directory"},                {"--error", "the run directory"},
    {"-e", "the run directory"},                {"--open-mode", "the run directory"},
    {"--account", "--account or launch.account"}, {"-A", "--account or launch.account"},
    {"--partition", "--partition or launch.partition"}, {"-p", "--partition or launch.partition"}};

}  // namespace

void check_sbatch_extra(const std::vector<std::string>& lines, ProblemList& p) {
for (const auto& line : lines) {
  if (line.rfind("#SBATCH ", 0) != 0 || line.size() <= 8) {
    p.add("extra sbatch line '" + line + "' (--sbatch-extra or launch.sbatch_extra) must start with \"#SBATCH \" " +
          "followed by an option, e.g. \"#SBATCH --qos=high\"");
    continue;
  }
  if (line.find('\n') != std::string::npos || line.find('\r') != std::string::npos) {
    p.add("extra sbatch line '" + line + "' holds a line break; give one #SBATCH line per value");
    continue;
  }
  std::string option = line.substr(8);
  option.erase(0, option.find_first_not_of(' '));
  if (option.empty() || option[0] != '-') {
    p.add("extra sbatch line '" + line + "' must give an option after #SBATCH, e.g. \"#SBATCH --qos=high\"");
    continue;
  }
  const std::string name = option.substr(0, option.find_first_of("= \t"));
  for (const auto& [reserved, from] : kRenderedSbatchOptions) {
    // Short options may be glued to their value (-t04:00:00); sbatch takes
    // unambiguous prefixes of long ones (--part=gpu).
    const bool is_short = reserved.size() == 2 && reserved[1] != '-';
    const bool hit = name == reserved || (is_short && name.rfind(reserved, 0) == 0) ||
                     (!is_short && name.size() >= 4 && name.rfind("--", 0) == 0 && reserved.rfind(name, 0) == 0);
    if (hit) {
      p.add("extra sbatch line '" + line + "' sets " + reserved + ", which the script already sets from " + from +
            "; remove the line and change " + from + " instead");
      break;
    }
  }
}
}

}  // namespace hetero
