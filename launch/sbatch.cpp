#include "sbatch.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <stdexcept>

#include "hetero/exit_codes.h"

namespace hetero {

std::string sbatch_script_path(const std::string& run_dir) { return run_dir + "/job.sbatch"; }
std::string slurm_output_pattern(const std::string& run_dir) { return run_dir + "/logs/slurm-%j.out"; }
std::string slurm_error_pattern(const std::string& run_dir) { return run_dir + "/logs/slurm-%j.err"; }

std::string shell_quote(const std::string& text) {
  const bool plain = !text.empty() && text.find_first_not_of(
                                          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                          "0123456789_./:=,+@%-") == std::string::npos;
  if (plain) return text;
  std::string out = "'";
  for (char c : text) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

namespace {

std::string range_text(const ModuleLayout& m) {
  return "[" + std::to_string(m.offset) + ", " + std::to_string(m.end()) + ")";
}

// What the job is, for the person who opens the file. Informational only:
// every rank finds its place itself, from SLURM_PROCID and the recipe.
std::string header_comment(const SbatchJob& j) {
  const JobTopology& t = j.topo;
  const ParallelDims& e = t.encoder.dims;
  const ParallelDims& l = t.llm.dims;
  std::ostringstream os;
  os << "#!/bin/bash\n";
  os << "# Rendered by hetero-launch: recipe " << j.recipe_name << ", scale " << j.scale
     << ". Render again rather than edit.\n";
  os << "# " << t.nodes << " node(s) x " << t.gpus_per_node << " task(s) = " << t.world_size << " ranks, "
     << t.mode << ":\n";
  if (t.hetero())
    os << "#   encoder ranks " << range_text(t.encoder) << " tp=" << e.tp << " dp=" << e.dp() << ", "
       << t.lanes_per_encoder() << " lane(s) per encoder replica\n";
  os << "#   llm ranks " << range_text(t.llm) << " tp=" << l.tp << " pp=" << l.pp << " dp=" << l.dp()
     << " ep=" << l.ep << ", " << t.num_microbatches() << " microbatch(es) per iteration\n";
  os << "# Each task takes its rank from SLURM_PROCID; hetero-train derives its role.\n";
  return os.str();
}

std::string sbatch_directives(const SbatchJob& j) {
  const LaunchConfig& l = j.launch;
  std::ostringstream os;
  os << "#SBATCH --job-name=hetero-" << j.recipe_name << "-" << j.scale << "\n";
  os << "#SBATCH --nodes=" << j.topo.nodes << "\n";
  os << "#SBATCH --ntasks-per-node=" << j.topo.gpus_per_node << "\n";
  if (l.device == "cuda") os << "#SBATCH --gpus-per-node=" << j.topo.gpus_per_node << "\n";
  os << "#SBATCH --time=" << l.time << "\n";
  if (!l.account.empty()) os << "#SBATCH --account=" << l.account << "\n";
  if (!l.partition.empty()) os << "#SBATCH --partition=" << l.partition << "\n";
  os << "#SBATCH --output=" << slurm_output_pattern(j.run_dir) << "\n";
  os << "#SBATCH --error=" << slurm_error_pattern(j.run_dir) << "\n";
  os << "#SBATCH --open-mode=append\n";
  os << "#SBATCH --signal=B:USR1@" << l.signal_seconds << "\n";
  os << "#SBATCH --requeue\n";
  for (const auto& line : l.sbatch_extra) os << line << "\n";
  return os.str();
}

std::string rendezvous_and_environment(const SbatchJob& j) {
  std::ostringstream os;
  os << "set -uo pipefail\n\n";
  os << "# Rendezvous: the first host of the allocation.\n";
  os << "export MASTER_ADDR=\"$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n1)\"\n";
  os << "if [ -z \"$MASTER_ADDR\" ]; then echo \"hetero-launch: no host in SLURM_JOB_NODELIST='$SLURM_JOB_NODELIST'\" >&2; "
        "exit 1; fi\n";
  os << "export MASTER_PORT=" << j.launch.port << "\n";
  if (!j.launch.env.empty()) {
    os << "# The recipe's launch.env.\n";
    for (const auto& [name, value] : j.launch.env) os << "export " << name << "=" << shell_quote(value) << "\n";
  }
  return os.str();
}

std::string requeue_setup(const SbatchJob& j) {
  std::ostringstream os;
  os << "max_requeues=" << j.launch.max_requeues << "\n";
  os << "restart_count=\"${SLURM_RESTART_COUNT:-0}\"\n";
  os << "echo \"hetero-launch: job $SLURM_JOB_ID starts (SLURM_RESTART_COUNT=$restart_count) on "
        "$SLURM_JOB_NUM_NODES node(s), rendezvous $MASTER_ADDR:$MASTER_PORT\"\n\n";
  os << "# Slurm sends USR1 to this shell " << j.launch.signal_seconds
     << " s before the time limit (or scancel --signal=USR1 --batch).\n"
        "# Pass it on to the job step: srun forwards it to every task, and hetero-train\n"
        "# stops after the current iteration with status "
     << kExitStopRequested << ".\n";
  os << "srun_pid=\"\"\n";
  os << "stop_requested=0\n";
  os << "usr1_during_wait=0\n";
  os << "on_usr1() {\n";
  os << "  stop_requested=1\n";
  os << "  usr1_during_wait=1\n";
  os << "  echo \"hetero-launch: USR1 received; asking hetero-train to stop after the current iteration\"\n";
  os << "  if [ -n \"$srun_pid\" ]; then kill -USR1 \"$srun_pid\" 2>/dev/null || true; fi\n";
  os << "}\n";
  os << "trap on_usr1 USR1\n";
  return os.str();
}

std::string srun_command(const SbatchJob& j) {
  std::ostringstream os;
  os << "# A requeued start continues from the run's latest checkpoint (RUN/checkpoints/latest).\n";
  os << "resume=" << shell_quote(j.resume) << "\n";
  os << "if [ \"$restart_count\" -gt 0 ]; then resume=auto; fi\n";
  os << "srun --kill-on-bad-exit=1 --ntasks-per-node=" << j.topo.gpus_per_node << " \\\n";
  os << "  " << shell_quote(j.trainer) << " \\\n";
  os << "  --recipe " << shell_quote(j.recipe_path) << " --scale " << shell_quote(j.scale) << " \\\n";
  os << "  --out " << shell_quote(j.run_dir) << " --device " << j.launch.device << " --resume \"$resume\""
     << " --hang-timeout-s " << j.launch.hang_timeout_s;
  for (const auto& o : j.overrides) os << " \\\n  --set " << shell_quote(o);
  os << " &\n";
  os << "srun_pid=$!\n";
  os << "if [ \"$stop_requested\" -eq 1 ]; then kill -USR1 \"$srun_pid\" 2>/dev/null || true; fi\n";
  return os.str();
}

std::string wait_and_requeue(const SbatchJob& j) {
  std::ostringstream os;
  os << "# A trapped signal interrupts wait; wait again until the step has ended.\n";
  os << "while :; do\n";
  os << "  usr1_during_wait=0\n";
  os << "  wait \"$srun_pid\"\n";
  os << "  status=$?\n";
  os << "  [ \"$usr1_during_wait\" -eq 1 ] || break\n";
  os << "done\n";
  os << "# A rank that noticed a hung one wrote who it was; that comes first.\n";
  os << "hang_report=" << shell_quote(j.run_dir + "/hang-report.txt") << "\n";
  os << "if [ \"$status\" -ne 0 ] && [ -s \"$hang_report\" ]; then\n";
  os << "  echo \"hetero-launch: hung rank: $(head -n 1 \"$hang_report\")\" >&2\n";
  os << "fi\n";
  os << "echo \"hetero-launch: hetero-train ended with status $status\"\n\n";
  os << "# " << kExitStopRequested << ": every rank stopped on request after the same iteration. With\n"
        "# --kill-on-bad-exit, ranks still exiting after the first one may be killed, which\n"
        "# srun reports as 128+signal: after a forwarded USR1 that is a stop too.\n";
  os << "if [ \"$status\" -eq " << kExitStopRequested
     << " ] || { [ \"$stop_requested\" -eq 1 ] && [ \"$status\" -gt 128 ]; }; then\n";
  os << "  if [ \"$restart_count\" -lt \"$max_requeues\" ]; then\n";
  os << "    echo \"hetero-launch: stopped on request; requeueing job $SLURM_JOB_ID (requeue $((restart_count + 1)) "
        "of at most $max_requeues)\"\n";
  os << "    if scontrol requeue \"$SLURM_JOB_ID\"; then exit 0; fi\n";
  os << "    echo \"hetero-launch: scontrol requeue $SLURM_JOB_ID failed; the job ends here\" >&2\n";
  os << "  else\n";
  os << "    echo \"hetero-launch: stopped on request; not requeueing: already requeued $restart_count time(s) "
        "(max_requeues=$max_requeues)\"\n";
  os << "  fi\n";
  os << "  exit " << kExitStopRequested << "\n";
  os << "fi\n";
  os << "exit \"$status\"\n";
  return os.str();
}

}  // namespace

std::string render_sbatch(const SbatchJob& j) {
  return header_comment(j) + sbatch_directives(j) + "\n" + rendezvous_and_environment(j) + "\n" + requeue_setup(j) +
         "\n" + srun_command(j) + wait_and_requeue(j);
}

namespace {

bool on_path(const std::string& command) {
  if (command.find('/') != std::string::npos) return access(command.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':'))
    if (!dir.empty() && access((dir + "/" + command).c_str(), X_OK) == 0) return true;
  return false;
}

}  // namespace

std::string submit_sbatch(const std::string& script, const std::string& sbatch) {
  if (!on_path(sbatch))
    throw std::runtime_error("'" + sbatch + "' not found on PATH: submit needs Slurm's client commands (run it on a " +
                             "login node), or submit the rendered script yourself: sbatch " + script);
  int out[2], err[2];
  if (pipe(out) != 0 || pipe(err) != 0) throw std::runtime_error(std::string("pipe failed: ") + std::strerror(errno));
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    close(out[0]);
    close(err[0]);
    const char* argv[] = {sbatch.c_str(), "--parsable", script.c_str(), nullptr};
    execvp(argv[0], const_cast<char* const*>(argv));
    _exit(127);  // the parent names the missing command
  }
  close(out[1]);
  close(err[1]);
  std::string text[2];
  int fds[2] = {out[0], err[0]};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (fds[0] >= 0 || fds[1] >= 0) {
    pollfd p[2];
    int n = 0, which[2];
    for (int i = 0; i < 2; ++i)
      if (fds[i] >= 0) {
        p[n] = {fds[i], POLLIN, 0};
        which[n++] = i;
      }
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      break;
    }
    if (poll(p, n, 200) <= 0) continue;
    for (int k = 0; k < n; ++k) {
      if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      const ssize_t got = read(fds[which[k]], buf, sizeof(buf));
      if (got <= 0) {
        close(fds[which[k]]);
        fds[which[k]] = -1;
      } else {
        text[which[k]].append(buf, static_cast<size_t>(got));
      }
    }
  }
  for (int fd : fds)
    if (fd >= 0) close(fd);
  int status = 0;
  waitpid(pid, &status, 0);
  auto trim = [](std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
    return s;
  };
  const std::string stdout_text = trim(text[0]), stderr_text = trim(text[1]);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error("sbatch " + script + " failed (" +
                             (WIFEXITED(status) ? "status " + std::to_string(WEXITSTATUS(status))
                                                : std::string("killed by signal ") + strsignal(WTERMSIG(status))) +
                             ")" + (stderr_text.empty() ? std::string() : ": " + stderr_text));
  // --parsable prints "jobid" or "jobid;cluster".
  const std::string id = stdout_text.substr(0, stdout_text.find(';'));
  if (id.empty() || id.find_first_not_of("0123456789") != std::string::npos)
    throw std::runtime_error("sbatch " + script + " printed no job id (stdout: '" + stdout_text + "'" +
                             (stderr_text.empty() ? std::string() : ", stderr: '" + stderr_text + "'") + ")");
  return id;
}

}  // namespace hetero
