#include "args.h"

#include <iostream>
#include <string_view>

#include <boost/program_options.hpp>

#include "hetero/cli.h"
#include "hetero/errors.h"

namespace po = boost::program_options;

namespace hetero::profiler {

const char* kUsage =
    "usage:\n"
    "  hetero-profile RUN [options]                      analyse RUN/trace/rank-*.json (or only RUN/metrics.jsonl)\n"
    "  hetero-profile --nsys R0.sqlite R1.sqlite ... [--run RUN] [options]\n"
    "                                                    analyse nsys SQLite exports, one per rank\n"
    "  hetero-profile suggest RUN --nodes N [options]    encoder/LLM node split for N nodes\n";

std::optional<ProfileArgs> parse_profile_args(int argc, const char* const* argv) {
  ProfileArgs a;
  std::vector<const char*> args(argv, argv + argc);
  if (argc > 1 && std::string_view(argv[1]) == "suggest") {
    a.suggest = true;
    args.erase(args.begin() + 1);
  }
  std::string run_flag;
  int iter = -1;
  po::options_description desc(std::string(kUsage) + "options");
  desc.add_options()
    ("help,h", "show this help")
    ("run-dir", po::value(&a.run), "RUN: the run directory (positional)")
    ("run", po::value(&run_flag), "the run directory, for its config.yaml (ranks' roles) and metrics.jsonl, "
                                  "when reading --nsys exports")
    ("nsys", po::value(&a.nsys)->multitoken(), "nsys SQLite exports, one per rank: ranks from 'rank-NNNNN' in "
                                               "the file names when all have it, else in the order given")
    ("warmup", po::value(&a.warmup)->default_value(1), "iterations left out of the medians (iter <= N)")
    ("iter", po::value(&iter), "iteration of the critical path and the HTML timeline "
                               "(default: the one with the median step time)")
    ("top", po::value(&a.top)->default_value(5), "stragglers to list")
    ("z-threshold", po::value(&a.z_threshold)->default_value(2.0), "z-score at which a rank is flagged a straggler")
    ("json", po::bool_switch(&a.json), "print the report as JSON on stdout instead of text")
    ("html", po::value(&a.html), "write a self-contained HTML report (timeline, stall chart) to FILE")
    ("brief", po::bool_switch(&a.brief), "leave the per-iteration table out of the text report")
    ("path-segments", po::value(&a.path_segments)->default_value(40),
     "critical path segments listed in the text report (-1: all)")
    ("nodes", po::value(&a.nodes), "suggest: nodes to split between encoder and LLM")
    ("gpus-per-node", po::value(&a.gpus_per_node), "suggest: GPUs per node (default: the run's scale.gpus_per_node)");
  po::positional_options_description pos;
  pos.add("run-dir", 1);
  if (!parse_command_line(static_cast<int>(args.size()), args.data(), desc, "hetero-profile", &pos))
    return std::nullopt;
  if (!run_flag.empty()) {
    if (!a.run.empty() && a.run != run_flag)
      throw ConfigError("two run directories given (" + a.run + " and --run " + run_flag + "); give one");
    a.run = run_flag;
  }
  if (iter >= 0) a.iter = iter;
  ProblemList p;
  if (a.run.empty() && a.nsys.empty())
    p.add("no input: give a run directory RUN, or --nsys FILE.sqlite ... (see hetero-profile --help)");
  if (a.warmup < 0) p.add("--warmup=" + std::to_string(a.warmup) + ": must be >= 0");
  if (a.top < 0) p.add("--top=" + std::to_string(a.top) + ": must be >= 0");
  if (a.suggest) {
    if (a.nodes < 2) p.add("suggest needs --nodes N with N >= 2 (the encoder and the LLM each get whole nodes)");
    if (a.run.empty()) p.add("suggest needs the run directory RUN (its config.yaml holds the topology)");
  } else if (a.nodes) {
    p.add("--nodes is for 'hetero-profile suggest RUN --nodes N'");
  }
  p.throw_if_any();
  return a;
}

}  // namespace hetero::profiler
