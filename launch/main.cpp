// hetero-launch: plan a recipe's topology at a scale, or run it locally.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include <boost/program_options.hpp>

#include "hetero/cli.h"
#include "hetero/errors.h"
#include "hetero/topology.h"
#include "local_runner.h"
#include "sbatch.h"
#include "sbatch_rules.h"

namespace po = boost::program_options;
using namespace hetero;

namespace {

const char* kUsage =
    "usage: hetero-launch <command> [options]\n"
    "commands:\n"
    "  plan   --recipe R --scale S [--set k=v ...]   print the topology of a recipe at a scale\n"
    "  local  --recipe R --scale S --out RUN [--nproc N] [--iters K] [--set k=v ...] [-- trainer args]\n"
    "         run the job on this machine as N processes\n"
    "  render --recipe R --scale S --out RUN [--time T] [--account A] [--partition P] [--sbatch-extra L ...]\n"
    "         [--set k=v ...]   write RUN/job.sbatch for Slurm\n"
    "  submit (the options of render)   render, then sbatch RUN/job.sbatch; prints the job id\n"
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
  std::string resume;
  po::options_description desc("hetero-launch local: run a job on this machine as N processes\nOptions");
  add_recipe_options(desc, ra);
  desc.add_options()
    ("out", po::value(&job.run_dir)->required(), "run directory")
    ("nproc", po::value(&job.nproc)->default_value(0), "processes to start (0: the scale's world size)")
    ("iters", po::value(&iters)->default_value(0), "iterations (0: the recipe's train.train_iters)")
    ("trainer", po::value(&job.trainer)->default_value(self_dir() + "/hetero-train"), "hetero-train executable")
    ("master-port", po::value(&job.master_port)->default_value(0), "rendezvous port (0: a free one)")
    ("resume", po::value(&resume), "hetero-train --resume: auto (default), none, or a checkpoint folder")
    ("overwrite", po::bool_switch(&job.overwrite),
     "run into an --out that holds an earlier run (refused otherwise, unless the start resumes it)");
  if (!parse_command_line(split, argv, desc, "hetero-launch local")) return 0;
  ProblemList flags;
  if (job.run_dir.empty()) flags.add("--out is empty; give the run directory, e.g. --out runs/first");
  if (iters < 0) flags.add("--iters=" + std::to_string(iters) + " must be 0 (the recipe's train.train_iters) or more");
  if (job.nproc < 0) flags.add("--nproc=" + std::to_string(job.nproc) + " must be 0 (the scale's world size) or more");
  if (job.master_port != 0 && (job.master_port < 1024 || job.master_port > 65535))
    flags.add("--master-port=" + std::to_string(job.master_port) +
              " must be 0 (a free port) or an unprivileged TCP port, 1024 to 65535");
  flags.throw_if_any();

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
  if (!resume.empty()) {
    job.args.insert(job.args.end(), {"--resume", resume});
    job.resume = resume;
  }
  for (int i = split + 1; i < argc; ++i) {
    job.args.push_back(argv[i]);
    // The trainer's --resume decides whether this start continues the run.
    if (std::string(argv[i]) == "--resume" && i + 1 < argc) job.resume = argv[i + 1];
    if (std::string(argv[i]).rfind("--resume=", 0) == 0) job.resume = std::string(argv[i]).substr(9);
    if (std::string(argv[i]) == "--overwrite") job.overwrite = true;
  }
  return run_local_job(job);
}

// What render and submit share: the recipe, the run directory and the
// command-line settings of the launch section.
struct SbatchArgs {
  RecipeArgs recipe;
  std::string run_dir, trainer, time, account, partition, resume;
  std::vector<std::string> sbatch_extra;
};

void add_sbatch_options(po::options_description& desc, SbatchArgs& a) {
  add_recipe_options(desc, a.recipe);
  desc.add_options()
    ("out", po::value(&a.run_dir)->required(), "run directory (on a file system the compute nodes share)")
    ("time", po::value(&a.time), "time limit [D-]HH:MM:SS (default: the recipe's launch.time)")
    ("account", po::value(&a.account), "Slurm account to charge (default: launch.account or the cluster's)")
    ("partition", po::value(&a.partition), "Slurm partition (default: launch.partition or the cluster's)")
    ("sbatch-extra", po::value(&a.sbatch_extra)->composing(),
     "one more '#SBATCH --option' line, e.g. '#SBATCH --qos=high' (repeatable)")
    ("trainer", po::value(&a.trainer)->default_value(self_dir() + "/hetero-train"),
     "hetero-train executable the job runs (a path the compute nodes see)")
    ("resume", po::value(&a.resume)->default_value("auto"),
     "hetero-train --resume of the first start: auto, none, or a checkpoint folder; a requeued start "
     "always continues from the latest checkpoint");
}

// Validates everything, writes RUN/job.sbatch and returns its path.
std::string render_job(const SbatchArgs& a) {
  // --time, --account and --partition are launch.* overrides: checked by the recipe's own rules.
  std::vector<std::string> overrides = a.recipe.overrides;
  if (!a.time.empty()) overrides.push_back("launch.time=" + a.time);
  if (!a.account.empty()) overrides.push_back("launch.account=" + a.account);
  if (!a.partition.empty()) overrides.push_back("launch.partition=" + a.partition);
  // Every problem in one pass: the recipe's, the topology's, the extra lines' and the trainer's.
  std::vector<std::string> problems;
  auto collect = [&](const ConfigError& e) { problems.insert(problems.end(), e.problems().begin(), e.problems().end()); };
  Recipe recipe;
  JobTopology topo;
  try {
    recipe = load_recipe(a.recipe.recipe, a.recipe.scale, overrides);
    topo = plan_topology(recipe);
  } catch (const ConfigError& e) {
    collect(e);
  }
  ProblemList extra_problems;
  check_sbatch_extra(recipe.launch.sbatch_extra, extra_problems);
  check_sbatch_extra(a.sbatch_extra, extra_problems);
  try {
    extra_problems.throw_if_any();
  } catch (const ConfigError& e) {
    collect(e);
  }
  if (access(a.trainer.c_str(), X_OK) != 0)
    problems.push_back("--trainer " + a.trainer + " is not an executable file; build hetero-train or pass --trainer PATH");
  if (!problems.empty()) throw ConfigError(problems);
  recipe.launch.sbatch_extra.insert(recipe.launch.sbatch_extra.end(), a.sbatch_extra.begin(), a.sbatch_extra.end());

  namespace fs = std::filesystem;
  SbatchJob job;
  job.recipe_name = recipe.name;
  job.recipe_path = fs::canonical(a.recipe.recipe).string();
  job.scale = a.recipe.scale;
  job.run_dir = fs::absolute(a.run_dir).lexically_normal().string();
  while (job.run_dir.size() > 1 && job.run_dir.back() == '/') job.run_dir.pop_back();
  job.trainer = fs::canonical(a.trainer).string();
  // The trainer reads the same recipe with the same overrides; launch.* only shapes the script.
  for (const auto& o : a.recipe.overrides)
    if (parse_override(o).first.front() != "launch") job.overrides.push_back(o);
  job.launch = recipe.launch;
  job.topo = topo;
  job.resume = a.resume == "auto" || a.resume == "none" ? a.resume : fs::absolute(a.resume).lexically_normal().string();

  fs::create_directories(job.run_dir + "/logs");  // Slurm does not create the output file's folder
  const std::string script = sbatch_script_path(job.run_dir);
  {
    std::ofstream out(script, std::ios::trunc);
    out << render_sbatch(job);
    if (!out) throw std::runtime_error("cannot write " + script);
  }
  fs::permissions(script, fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                  fs::perm_options::add);
  std::cerr << "hetero-launch: wrote " << script << " (" << topo.nodes << " node(s) x " << topo.gpus_per_node
            << " task(s), time " << recipe.launch.time << ", USR1 " << recipe.launch.signal_seconds
            << " s before the limit, at most " << recipe.launch.max_requeues << " requeue(s))" << std::endl;
  return script;
}

int render(int argc, char** argv) {
  SbatchArgs a;
  po::options_description desc("hetero-launch render: write RUN/job.sbatch for a recipe at a scale\nOptions");
  add_sbatch_options(desc, a);
  if (!parse_command_line(argc, argv, desc, "hetero-launch render")) return 0;
  const std::string script = render_job(a);
  std::cout << script << std::endl;
  return 0;
}

int submit(int argc, char** argv) {
  SbatchArgs a;
  po::options_description desc("hetero-launch submit: render RUN/job.sbatch and submit it with sbatch\nOptions");
  add_sbatch_options(desc, a);
  if (!parse_command_line(argc, argv, desc, "hetero-launch submit")) return 0;
  const std::string script = render_job(a);
  const std::string id = submit_sbatch(script);
  const std::string run_dir = std::filesystem::path(script).parent_path().string();
  std::cerr << "hetero-launch: submitted job " << id << "; output in " << run_dir << "/logs/slurm-" << id
            << ".out, metrics in " << run_dir << "/metrics.jsonl" << std::endl;
  std::cout << id << std::endl;
  return 0;
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
    if (command == "render") return render(argc - 1, argv + 1);
    if (command == "submit") return submit(argc - 1, argv + 1);
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
