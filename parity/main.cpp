// hetero-parity: holds a hetero run against a reference, iteration by
// iteration (lm loss, grad norm, lr) and row by row (embedding cosines).
//   hetero-parity diff RUN_A RUN_B   compare two runs (or metrics.jsonl / Megatron logs)
//   hetero-parity run ...            run the hetero job and its reference, then diff them
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>

#include <boost/program_options.hpp>

#include "args.h"
#include "compare.h"
#include "hetero/cli.h"
#include "hetero/errors.h"
#include "hetero/safetensors.h"
#include "report.h"
#include "run_pair.h"
#include "sources.h"
#include "svg.h"

namespace fs = std::filesystem;
namespace po = boost::program_options;
using namespace hetero;
using namespace hetero::parity;

namespace {

constexpr int kExitPass = 0, kExitViolation = 1, kExitUsage = 2, kExitFailure = 3;

const char* kUsage =
    "usage: hetero-parity <command> [options]\n"
    "commands:\n"
    "  diff RUN_A RUN_B [--loss-rtol X] [--grad-norm-rtol Y] [--cos-min Z]\n"
    "       [--json [FILE]] [--markdown FILE] [--svg FILE]\n"
    "       compare run A against reference B per iteration and per embedding row\n"
    "  run  --recipe R --scale S --reference-scale T --iters N --out DIR [--launcher local] [--set k=v]\n"
    "       [--set-a k=v] [--set-b k=v] [--dump-embeddings-at 1,2,N] [diff options] [-- trainer args]\n"
    "       run the hetero job (DIR/hetero) and its reference (DIR/reference) with embedding dumps, then diff them\n"
    "exit status: 0 parity holds, 1 parity violated, 2 usage or input error, 3 a job or the tool failed\n"
    "run 'hetero-parity <command> --help' for a command's options and rules\n";

const char* kRules =
    "\nInputs (A and B): a run directory (metrics.jsonl, embeddings/iter-NNNNNN.safetensors), a\n"
    "metrics.jsonl file, or a Megatron-LM log (lines ' iteration N/ M | ... | lm loss: X | grad norm: Y |').\n"
    "Rules:\n"
    "  rel diff = (A - B) / |B|. lm loss and grad norm violate when |A - B| > rtol * |B| plus the printed\n"
    "    resolution of both values (a log's '12.345' is good to 5e-4), or when either is not finite.\n"
    "    Learning rates must agree to --lr-rtol.\n"
    "  An iteration of A missing in B is a violation (--allow-missing: reported only); one of B missing\n"
    "    in A, and differing lengths, are reported only. A Megatron line without 'lm loss' is a skipped\n"
    "    iteration: skipped in both is not compared, skipped in one run only is a violation.\n"
    "  Embeddings: tensors present in both dumps of an iteration are compared row by row by cosine\n"
    "    (two all-zero rows: 1, one all-zero row: 0) and summarised per family (vision_proj,\n"
    "    combined_embeddings): min, mean and where the min is. Min cosine < --cos-min violates; so does\n"
    "    a shape mismatch, and a tensor in only one of two dumps of the same iteration\n"
    "    (--allow-missing-tensors: reported only). An iteration dumped by only one run is reported only.\n"
    "  Presets: fp32 (default; design: CPU fp32) loss/grad norm rtol 1e-5, cosine 0.99999;\n"
    "    bf16 (GPU) loss/grad norm rtol 2e-2, cosine 0.999. Explicit flags win over the preset.\n"
    "Exit status: 0 parity holds, 1 violated (the message names the first bad iteration and tensor),\n"
    "  2 usage or input error, 3 a job or the tool failed.\n";

struct Outputs {
  std::string json, markdown, svg;
  bool brief = false;
};

struct DiffOptions {
  std::optional<double> loss_rtol, grad_norm_rtol, lr_rtol, cos_min;
  std::string preset = "fp32";
  bool allow_missing = false, allow_missing_tensors = false;
  Outputs out;
};

void add_diff_options(po::options_description& desc, DiffOptions& o) {
  auto set = [](std::optional<double>& target) {
    return po::value<double>()->notifier([&target](double v) { target = v; });
  };
  desc.add_options()
    ("preset", po::value(&o.preset)->default_value("fp32"), "tolerance preset: fp32 or bf16")
    ("loss-rtol", set(o.loss_rtol), "relative tolerance on lm loss (fp32: 1e-5, bf16: 2e-2)")
    ("grad-norm-rtol", set(o.grad_norm_rtol), "relative tolerance on grad norm (fp32: 1e-5, bf16: 2e-2)")
    ("lr-rtol", set(o.lr_rtol), "relative tolerance on learning rate equality (default 1e-6)")
    ("cos-min", set(o.cos_min), "minimum cosine of every embedding row (fp32: 0.99999, bf16: 0.999)")
    ("allow-missing", po::bool_switch(&o.allow_missing), "iterations of A missing in B are reported, not violations")
    ("allow-missing-tensors", po::bool_switch(&o.allow_missing_tensors),
     "tensors in only one of two dumps of an iteration are reported, not violations")
    ("json", po::value(&o.out.json), "write the report as JSON to FILE ('--json' alone or '--json -': stdout)")
    ("markdown", po::value(&o.out.markdown), "write the report as Markdown to FILE")
    ("svg", po::value(&o.out.svg), "write an SVG of both loss curves and the relative difference to FILE")
    ("brief", po::bool_switch(&o.out.brief), "leave the rows that are ok out of the text table");
}

const std::set<std::string> kFlags = {"--help", "-h", "--allow-missing", "--allow-missing-tensors", "--brief",
                                      "--dry-run"};

Tolerances resolve_tolerances(const DiffOptions& o) {
  Tolerances t;
  if (o.preset == "bf16") {
    t.loss_rtol = 2e-2;
    t.grad_norm_rtol = 2e-2;
    t.cos_min = 0.999;
  } else if (o.preset != "fp32") {
    throw ConfigError("--preset=" + o.preset + ": must be fp32 or bf16");
  }
  if (o.loss_rtol) t.loss_rtol = *o.loss_rtol;
  if (o.grad_norm_rtol) t.grad_norm_rtol = *o.grad_norm_rtol;
  if (o.lr_rtol) t.lr_rtol = *o.lr_rtol;
  if (o.cos_min) t.cos_min = *o.cos_min;
  auto num = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%g", v);
    return std::string(buf);
  };
  ProblemList p;
  for (auto [name, v] : {std::pair{"--loss-rtol", t.loss_rtol}, {"--grad-norm-rtol", t.grad_norm_rtol},
                         {"--lr-rtol", t.lr_rtol}})
    if (!(v >= 0)) p.add(std::string(name) + "=" + num(v) + ": a tolerance must be >= 0, e.g. 1e-5");
  if (!(t.cos_min >= -1 && t.cos_min <= 1))
    p.add("--cos-min=" + num(t.cos_min) + ": a cosine lies in [-1, 1]; 0.99999 is typical for fp32, 0.999 for bf16");
  p.throw_if_any();
  t.allow_missing = o.allow_missing;
  t.allow_missing_tensors = o.allow_missing_tensors;
  return t;
}

void write_file(const std::string& path, const std::string& text, const std::vector<std::string>& inputs) {
  std::error_code ec;
  for (const auto& in : inputs)
    if (fs::exists(path, ec) && fs::equivalent(path, in, ec))
      throw ConfigError("output " + path + " is one of the inputs; write the report somewhere else");
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.flush();
  if (!out) throw ConfigError("cannot write " + path + ": check that its directory exists and is writable");
}

// Prints and writes the report as asked; returns the exit status.
int emit(const Report& report, const Outputs& out, const std::vector<std::string>& inputs) {
  const bool json_stdout = out.json == "-";
  if (!out.json.empty() && !json_stdout) write_file(out.json, render_json(report), inputs);
  if (!out.markdown.empty()) write_file(out.markdown, render_markdown(report), inputs);
  if (!out.svg.empty()) write_file(out.svg, render_svg(report), inputs);
  if (json_stdout) {
    std::cout << render_json(report);
    std::cerr << report.verdict() << "\n";
  } else {
    TextOptions t;
    t.brief = out.brief;
    std::cout << render_text(report, t);
  }
  return report.exit_code();
}

Report diff_inputs(const std::string& a, const std::string& b, const Tolerances& tol) {
  const Source sa = load_source(a), sb = load_source(b);
  try {
    return compare_sources(sa, sb, tol);
  } catch (const SafeTensorsError& e) {
    throw ConfigError(std::string(e.what()) + "; re-dump that iteration or remove the file");
  }
}

std::vector<std::string> to_args(int argc, char** argv) { return {argv, argv + argc}; }

// parse_command_line over a vector of arguments (args[0] is the command name).
bool parse(const std::vector<std::string>& args, const po::options_description& desc, const std::string& program,
           const po::positional_options_description* pos = nullptr) {
  std::vector<const char*> c;
  for (const auto& a : args) c.push_back(a.c_str());
  return parse_command_line(static_cast<int>(c.size()), c.data(), desc, program, pos);
}

int diff(int argc, char** argv) {
  std::string a, b;
  DiffOptions o;
  po::options_description desc(
      "hetero-parity diff RUN_A RUN_B: compare run A against reference B\n"
      "  RUN_A, RUN_B: run directories, metrics.jsonl files or Megatron logs\nOptions");
  desc.add_options()("help,h", "show this help")("a", po::value(&a), "run A (the hetero run)")(
      "b", po::value(&b), "run B (the reference)");
  add_diff_options(desc, o);
  po::positional_options_description pos;
  pos.add("a", 1).add("b", 1);
  auto args = to_args(argc, argv);
  args = resolve_optional_value(args, "--json", kFlags, 2);
  if (!parse(args, desc, "hetero-parity diff", &pos)) {
    std::cout << kRules;
    return kExitPass;
  }
  if (a.empty() || b.empty())
    throw ConfigError(std::string("diff needs two inputs, ") + (a.empty() ? "got none" : "got only " + a) +
                      ": hetero-parity diff RUN_A RUN_B (run directories, metrics.jsonl files or Megatron logs)");
  const Tolerances tol = resolve_tolerances(o);
  return emit(diff_inputs(a, b, tol), o.out, {a, b});
}

std::string self_dir() {
  std::error_code ec;
  const auto exe = fs::canonical("/proc/self/exe", ec);
  return ec ? "." : exe.parent_path().string();
}

int run(int argc, char** argv) {
  int split = argc;  // everything after "--" goes to both trainers
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--") {
      split = i;
      break;
    }
  PairSpec spec;
  DiffOptions o;
  std::string dump_at;
  bool dry_run = false;
  po::options_description desc(
      "hetero-parity run: run the hetero job (A, OUT/hetero) and its reference (B, OUT/reference)\n"
      "with the same recipe, seed and data and embedding dumps on, then diff them (reports in OUT/parity.*)\n"
      "Options");
  desc.add_options()
    ("help,h", "show this help")
    ("recipe", po::value(&spec.recipe)->required(), "recipe directory or recipe.yaml (e.g. recipes/nemotron_20l)")
    ("scale", po::value(&spec.scale)->required(), "scale of the hetero job (A)")
    ("reference-scale", po::value(&spec.reference_scale)->required(),
     "scale of the reference job (B), usually colocated or one process")
    ("iters", po::value(&spec.iters)->required(), "iterations of both jobs")
    ("out", po::value(&spec.out)->required(), "directory for both runs and the reports")
    ("launcher", po::value(&spec.launcher)->default_value("local"), "local (slurm: not yet supported)")
    ("set", po::value(&spec.set_both)->composing(), "recipe override for both jobs (repeatable)")
    ("set-a", po::value(&spec.set_a)->composing(), "recipe override for the hetero job only (repeatable)")
    ("set-b", po::value(&spec.set_b)->composing(), "recipe override for the reference job only (repeatable)")
    ("dump-embeddings-at", po::value(&dump_at),
     "iterations to dump embeddings at, e.g. 1,2,10 or none (default: 1,2,N)")
    ("launch", po::value(&spec.launch_bin)->default_value(self_dir() + "/hetero-launch"), "hetero-launch executable")
    ("dry-run", po::bool_switch(&dry_run), "print the two commands and exit");
  add_diff_options(desc, o);
  auto args = to_args(split, argv);
  args = resolve_optional_value(args, "--json", kFlags, 0);
  if (!parse(args, desc, "hetero-parity run")) {
    std::cout << kRules;
    return kExitPass;
  }
  for (int i = split + 1; i < argc; ++i) spec.trainer_args.push_back(argv[i]);
  const Tolerances tol = resolve_tolerances(o);
  if (spec.iters < 1)
    throw ConfigError("--iters=" + std::to_string(spec.iters) + ": both jobs need at least 1 iteration");
  spec.dump_at = dump_at.empty() ? default_dump_iterations(spec.iters) : parse_iteration_list(dump_at, spec.iters);
  const auto jobs = build_pair_commands(spec);

  if (dry_run) {
    for (const auto& j : jobs) std::cout << j.name << ": " << shell_join(j.argv) << "\n";
    return kExitPass;
  }
  if (access(spec.launch_bin.c_str(), X_OK) != 0)
    throw ConfigError("--launch=" + spec.launch_bin + " is not an executable; build hetero-launch or pass its path");
  for (const auto& j : jobs) {
    std::error_code ec;
    if (fs::exists(j.run_dir + "/metrics.jsonl", ec) || fs::exists(j.run_dir + "/embeddings", ec))
      throw ConfigError(j.run_dir + " already holds a run (metrics.jsonl or embeddings/); pass a new --out or "
                                    "remove that directory, so no stale rows are compared");
  }
  fs::create_directories(spec.out);
  for (const auto& j : jobs) {
    std::cout << "== " << j.name << " job: " << shell_join(j.argv) << std::endl;
    const int rc = run_command(j.argv);
    if (rc != 0) {
      std::cerr << "hetero-parity run: the " << j.name << " job failed with status " << rc << "; its logs are in "
                << j.run_dir << "/logs" << std::endl;
      return kExitFailure;
    }
  }
  Outputs out = o.out;
  const Report report = diff_inputs(jobs[0].run_dir, jobs[1].run_dir, tol);
  write_file(spec.out + "/parity.json", render_json(report), {});
  write_file(spec.out + "/parity.md", render_markdown(report), {});
  write_file(spec.out + "/parity.svg", render_svg(report), {});
  std::cout << "== diff " << jobs[0].run_dir << " " << jobs[1].run_dir << " (also in " << spec.out
            << "/parity.{json,md,svg})" << std::endl;
  return emit(report, out, {});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" ||
      std::string(argv[1]) == "help") {
    std::cout << kUsage;
    return argc < 2 ? kExitUsage : kExitPass;
  }
  const std::string command = argv[1];
  try {
    if (command == "diff") return diff(argc - 1, argv + 1);
    if (command == "run") return run(argc - 1, argv + 1);
    std::cerr << "hetero-parity: unknown command '" << command << "'\n" << kUsage;
    return kExitUsage;
  } catch (const ConfigError& e) {
    std::cerr << "hetero-parity " << command << ": " << e.what() << std::endl;
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "hetero-parity " << command << ": error: " << e.what() << std::endl;
    return kExitFailure;
  }
}
