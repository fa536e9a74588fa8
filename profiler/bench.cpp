// hetero-profile-bench: synthesizes a large run (default 800 ranks x 100
// iterations, the 100-node layout with a 4-stage LLM) into a temp
// directory with TraceWriter, then times `hetero-profile RUN --html` on it
// as a separate process and reports its wall time and peak memory (which
// stays small because ranks are read one at a time).
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "hetero/cli.h"
#include "hetero/errors.h"
#include "hetero/regions.h"
#include "hetero/trace.h"

namespace fs = std::filesystem;
namespace po = boost::program_options;
using namespace hetero;

namespace {

struct Shape {
  int encoder_ranks = 32, llm_ranks = 768, tp = 2, pp = 4, microbatches = 8, iters = 100;
  int straggler = -1;  // an LLM rank whose forward is 30% slower
  int lanes() const { return llm_ranks / (tp * pp); }
  int world() const { return encoder_ranks + llm_ranks; }
};

// Per-rank timelines in µs: each iteration starts at the same wall time on
// every rank; a microbatch's LLM stage s runs after stage s-1's forward.
void write_rank(const std::string& path, const Shape& s, int rank, std::int64_t epoch_us) {
  namespace R = regions;
  TraceRankInfo info;
  info.rank = rank;
  const bool encoder = rank < s.encoder_ranks;
  int stage = 0;
  if (encoder) {
    info.module = "encoder";
    info.replica = rank;
  } else {
    const int local = rank - s.encoder_ranks;  // trainer grid order: tp fastest, then dp, then pp
    info.module = "llm";
    info.tp_rank = local % s.tp;
    info.replica = (local / s.tp) % s.lanes();
    stage = info.stage = local / (s.tp * s.lanes());
  }
  TraceWriter w(path, info);
  const std::int64_t enc_fwd = 900, enc_bwd = 450, fwd = rank == s.straggler ? 1300 : 1000, bwd = 2000, send = 20;
  for (int iter = 1; iter <= s.iters; ++iter) {
    std::int64_t t = epoch_us + static_cast<std::int64_t>(iter) * 200'000;
    auto ev = [&](const char* name, std::int64_t dur, int mb) {
      w.region(name, t, dur, iter, mb);
      t += dur;
    };
    for (int mb = 0; mb < s.microbatches; ++mb) {
      ev(R::kDataWait, 15, mb);
      if (encoder) {
        ev(R::kEncoderForward, enc_fwd, mb);
        ev(R::kBridgeSend, send, mb);
        ev(R::kBridgeWait, 300 + 10 * (iter % 7), mb);
        ev(R::kEncoderBackward, enc_bwd, mb);
      } else {
        ev(stage == 0 ? R::kLlmEncoderStall : R::kPpWait, stage == 0 ? 200 + iter % 5 : stage * (fwd + send), mb);
        ev(R::kLlmForward, fwd, mb);
        ev(R::kPpSend, send, mb);
        ev(R::kPpWait, (s.pp - 1 - stage) * (fwd + bwd + 2 * send) + 1, mb);
        ev(R::kLlmBackward, bwd, mb);
        ev(stage == 0 ? R::kBridgeSend : R::kPpSend, send, mb);
      }
    }
    ev(R::kGradReduce, encoder ? 200 : 800, -1);
    ev(R::kOptimStep, 300, -1);
  }
}

void write_config(const std::string& run, const Shape& s) {
  std::ofstream out(run + "/config.yaml");
  const int enc_dp = s.encoder_ranks, lanes = s.lanes();
  out << "name: bench\ntrain:\n  global_batch_size: " << s.microbatches * lanes
      << "\n  micro_batch_size: 1\nscale:\n  nodes: " << s.world() / 8 << "\n  gpus_per_node: 8\n"
      << "topology:\n  mode: hetero\n  world_size: " << s.world() << "\n  encoder:\n    ranks: 0-"
      << s.encoder_ranks - 1 << "\n    tp: 1\n    cp: 1\n    pp: 1\n    dp: " << enc_dp << "\n  llm:\n    ranks: "
      << s.encoder_ranks << "-" << s.world() - 1 << "\n    tp: " << s.tp << "\n    cp: 1\n    pp: " << s.pp
      << "\n    dp: " << lanes << "\n  num_microbatches: " << s.microbatches << "\n";
}

std::uint64_t dir_bytes(const std::string& dir) {
  std::uint64_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) n += e.file_size();
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Shape s;
    std::string dir, profile;
    bool keep = false;
    po::options_description desc(
        "hetero-profile-bench: time hetero-profile on a synthesized large run\n"
        "usage: hetero-profile-bench [options]\noptions");
    desc.add_options()("help,h", "show this help")(
        "encoder-ranks", po::value(&s.encoder_ranks)->default_value(s.encoder_ranks), "encoder ranks (tp 1)")(
        "llm-ranks", po::value(&s.llm_ranks)->default_value(s.llm_ranks), "LLM ranks")(
        "tp", po::value(&s.tp)->default_value(s.tp), "LLM tensor parallel size")(
        "pp", po::value(&s.pp)->default_value(s.pp), "LLM pipeline stages")(
        "microbatches", po::value(&s.microbatches)->default_value(s.microbatches), "microbatches per lane")(
        "iters", po::value(&s.iters)->default_value(s.iters), "iterations")(
        "dir", po::value(&dir), "where to write the run (default: a fresh temp dir, removed afterwards)")(
        "keep", po::bool_switch(&keep), "keep the run directory")(
        "profile", po::value(&profile), "the hetero-profile binary (default: next to this one)");
    if (!parse_command_line(argc, argv, desc, "hetero-profile-bench")) return 0;
    ProblemList p;
    if (s.encoder_ranks < 1 || s.llm_ranks < 1) p.add("--encoder-ranks and --llm-ranks must be >= 1");
    if (s.tp < 1 || s.pp < 1 || s.llm_ranks % (s.tp * s.pp))
      p.add("--llm-ranks=" + std::to_string(s.llm_ranks) + " must be a multiple of tp*pp");
    if (s.microbatches < 1 || s.iters < 1) p.add("--microbatches and --iters must be >= 1");
    p.throw_if_any();
    if (profile.empty()) profile = (fs::canonical("/proc/self/exe").parent_path() / "hetero-profile").string();
    if (!fs::exists(profile)) throw ConfigError("no hetero-profile at " + profile + "; pass --profile PATH");
    const bool temp = dir.empty();
    if (temp) {
      std::string pattern = (fs::temp_directory_path() / "hetero-profile-bench-XXXXXX").string();
      if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
      dir = pattern;
    }
    const std::string run = dir + "/run";
    fs::create_directories(run + "/trace");
    s.straggler = s.world() - 1;

    const auto t0 = std::chrono::steady_clock::now();
    const std::int64_t epoch_us = trace_clock_us();
    for (int r = 0; r < s.world(); ++r) {
      char name[32];
      std::snprintf(name, sizeof(name), "/trace/rank-%05d.json", r);
      write_rank(run + name, s, r, epoch_us);
    }
    write_config(run, s);
    const double write_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("synthesized %d ranks x %d iterations (%d lanes x %d stages x tp %d, %d microbatches) in %s: "
                "%.0f MB in %.1f s\n",
                s.world(), s.iters, s.lanes(), s.pp, s.tp, s.microbatches, run.c_str(), dir_bytes(run) / 1e6, write_s);

    const std::string html = dir + "/report.html", out = dir + "/report.txt";
    const auto t1 = std::chrono::steady_clock::now();
    std::fflush(stdout);  // or the child prints it again
    const pid_t pid = fork();
    if (pid == 0) {
      if (!freopen(out.c_str(), "w", stdout)) _exit(127);
      execl(profile.c_str(), profile.c_str(), run.c_str(), "--html", html.c_str(), "--brief", static_cast<char*>(nullptr));
      _exit(127);
    }
    int status = 0;
    rusage usage{};
    wait4(pid, &status, 0, &usage);
    const double profile_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    std::ifstream report(out);
    const std::string text((std::istreambuf_iterator<char>(report)), std::istreambuf_iterator<char>());
    const bool found = text.find("rank " + std::to_string(s.straggler) + " llm") != std::string::npos &&
                       text.find("STRAGGLER") != std::string::npos;
    std::printf("%s %s --html %s --brief: %.1f s wall, peak memory %.0f MB, exit %d; planted straggler rank %d %s\n",
                profile.c_str(), run.c_str(), html.c_str(), profile_s, usage.ru_maxrss / 1024.0,
                WIFEXITED(status) ? WEXITSTATUS(status) : -1, s.straggler, found ? "found" : "NOT found");
    if (temp && !keep) fs::remove_all(dir);
    else std::printf("kept %s\n", dir.c_str());
    return ok && found ? 0 : 1;
  } catch (const ConfigError& e) {
    std::cerr << "hetero-profile-bench: " << e.what() << std::endl;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "hetero-profile-bench: error: " << e.what() << std::endl;
    return 1;
  }
}
