#include "run_pair.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <sstream>
#include <stdexcept>

#include "hetero/errors.h"

namespace hetero::parity {

std::vector<int> parse_iteration_list(const std::string& text, int iters) {
  if (text == "none" || text.empty()) return {};
  std::set<int> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const size_t b = item.find_first_not_of(' '), e = item.find_last_not_of(' ');
    const std::string t = b == std::string::npos ? "" : item.substr(b, e - b + 1);
    if (t.empty() || t.size() > 9 || t.find_first_not_of("0123456789") != std::string::npos)
      throw ConfigError("--dump-embeddings-at=" + text + ": '" + t +
                        "' is not an iteration number; give a comma-separated list such as 1,2,10 (or none)");
    const int it = std::stoi(t);
    if (it < 1 || it > iters)
      throw ConfigError("--dump-embeddings-at=" + text + ": iteration " + t + " is outside 1.." +
                        std::to_string(iters) + " (--iters=" + std::to_string(iters) +
                        "); dump only iterations the jobs run");
    out.insert(it);
  }
  return {out.begin(), out.end()};
}

std::vector<int> default_dump_iterations(int iters) {
  std::set<int> out;
  for (int it : {1, 2, iters})
    if (it >= 1 && it <= iters) out.insert(it);
  return {out.begin(), out.end()};
}

std::vector<JobCommand> build_pair_commands(const PairSpec& spec) {
  if (spec.launcher == "slurm")
    throw ConfigError(
        "--launcher=slurm is not yet supported: use --launcher local, or run the two jobs with hetero-launch submit "
        "and then hetero-parity diff RUN_A RUN_B");
  if (spec.launcher != "local")
    throw ConfigError("--launcher=" + spec.launcher + ": must be local (slurm is not yet supported)");
  ProblemList problems;
  if (spec.iters < 1)
    problems.add("--iters=" + std::to_string(spec.iters) + ": both jobs need at least 1 iteration; pass --iters N");
  if (spec.recipe.empty()) problems.add("--recipe is empty; pass a recipe directory such as recipes/nemotron_20l");
  if (spec.scale.empty()) problems.add("--scale is empty; pass the hetero job's scale, e.g. tiny");
  if (spec.reference_scale.empty())
    problems.add("--reference-scale is empty; pass the reference job's scale (usually colocated or one process)");
  if (spec.out.empty()) problems.add("--out is empty; pass a directory for the two runs");
  for (int it : spec.dump_at)
    if (it < 1 || it > spec.iters)
      problems.add("embedding dump at iteration " + std::to_string(it) + " is outside 1.." +
                   std::to_string(spec.iters));
  problems.throw_if_any();

  std::string dump_list;
  for (int it : spec.dump_at) dump_list += (dump_list.empty() ? "" : ",") + std::to_string(it);

  auto job = [&](const std::string& name, const std::string& scale, const std::vector<std::string>& own_sets) {
    JobCommand c;
    c.name = name;
    c.run_dir = spec.out + "/" + name;
    c.argv = {spec.launch_bin, "local", "--recipe", spec.recipe, "--scale",
              scale,           "--out", c.run_dir,  "--iters",   std::to_string(spec.iters)};
    for (const auto* sets : {&spec.set_both, &own_sets})
      for (const auto& s : *sets) c.argv.insert(c.argv.end(), {"--set", s});
    if (!dump_list.empty() || !spec.trainer_args.empty()) {
      c.argv.push_back("--");
      if (!dump_list.empty()) c.argv.insert(c.argv.end(), {"--dump-embeddings-at", dump_list});
      c.argv.insert(c.argv.end(), spec.trainer_args.begin(), spec.trainer_args.end());
    }
    return c;
  };
  return {job("hetero", spec.scale, spec.set_a), job("reference", spec.reference_scale, spec.set_b)};
}

std::string shell_join(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    const bool plain = !a.empty() && a.find_first_not_of(
                                         "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789_-+=.,/:@%") == std::string::npos;
    if (plain) {
      out += a;
      continue;
    }
    out += '\'';
    for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

int run_command(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    execv(args[0], args.data());
    std::fprintf(stderr, "hetero-parity: cannot run %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw std::runtime_error(std::string("waitpid failed: ") + std::strerror(errno));
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace hetero::parity
