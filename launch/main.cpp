// hetero-launch: plan a recipe's topology at a scale, or run it locally.
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include <boost/program_options.hpp>

#include "hetero/cli.h"
#include "hetero/errors.h"
#include "hetero/topology.h"
#include "local_runner.h"

namespace po = boost::program_options;
using namespace hetero;

namespace {

const char* kUsage =
    "usage: hetero-launch <command> [options]\n"
    "commands:\n"
    "  plan   --recipe R --scale S [--set k=v ...]   print the topology of a recipe at a scale\n"
    "  local  --recipe R --scale S --out RUN [--nproc N] [--iters K] [--set k=v ...] [-- trainer args]\n"
    "         run the job on this machine as N processes\n"
    "run 'hetero-launch <command> --help' for a command's options\n";

std::string self_dir() {
  return std::filesystem::canonical("/proc/self/exe").parent_path().string();
}

int plan(int argc, char** argv) {
  RecipeArgs ra;
  po::options_description desc("hetero-launch plan: print the topology of a recipe at a scale\nOptions");
  add_recipe_options(desc, ra);
  if (!parse_command_line(argc, argv, desc, "hetero-launch plan")) return 0;
  const Recipe recipe = load_recipe(ra.recipe, ra.scale, ra.overrides);
  std::cout << describe_plan(recipe, plan_topology(recipe));
  return 0;
}

int local(int argc, char** argv) {
  // Everything after "--" goes to the trainer untouched.
  int split = argc;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--") { split = i; break; }
  RecipeArgs ra;
  LocalJob job;
  int iters = 0;
  po::options_description desc("hetero-launch local: run a job on this machine as N processes\nOptions");
  add_recipe_options(desc, ra);
  desc.add_options()
    ("out", po::value(&job.run_dir)->required(), "run directory")
    ("nproc", po::value(&job.nproc)->default_value(0), "processes to start (0: the scale's world size)")
    ("iters", po::value(&iters)->default_value(0), "iterations (0: the recipe's train.train_iters)")
    ("trainer", po::value(&job.trainer)->default_value(self_dir() + "/hetero-train"), "hetero-train executable")
    ("master-port", po::value(&job.master_port)->default_value(0), "rendezvous port (0: a free one)");
  if (!parse_command_line(split, argv, desc, "hetero-launch local")) return 0;

  // Validate before starting anything (design §3): same rules as the trainer.
  const Recipe recipe = load_recipe(ra.recipe, ra.scale, ra.overrides);
  const JobTopology topo = plan_topology(recipe);
  if (job.nproc == 0) job.nproc = topo.world_size;
  if (job.nproc != topo.world_size)
    throw ConfigError("--nproc=" + std::to_string(job.nproc) + " but scale " + ra.scale + " needs " +
                      std::to_string(topo.world_size) + " ranks (encoder " + std::to_string(topo.hetero() ? topo.encoder.dims.size : 0) +
                      " + llm " + std::to_string(topo.llm.dims.size) + "); pass --nproc " +
                      std::to_string(topo.world_size) + " or change the scale");
  job.args = {"--recipe", ra.recipe, "--scale", ra.scale, "--out", job.run_dir};
  for (const auto& o : ra.overrides) {
    job.args.push_back("--set");
    job.args.push_back(o);
  }
  if (iters > 0) job.args.insert(job.args.end(), {"--iters", std::to_string(iters)});
  for (int i = split + 1; i < argc; ++i) job.args.push_back(argv[i]);
  return run_local_job(job);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  try {
    if (command == "plan") return plan(argc - 1, argv + 1);
    if (command == "local") return local(argc - 1, argv + 1);
    std::cerr << "hetero-launch: unknown command '" << command << "'\n" << kUsage;
    return 2;
  } catch (const ConfigError& e) {
    std::cerr << "hetero-launch " << command << ": " << e.what() << std::endl;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "hetero-launch " << command << ": error: " << e.what() << std::endl;
    return 1;
  }
}
