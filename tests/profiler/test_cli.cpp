// The hetero-profile binary: help, and bad inputs that end in an error
// naming the value, the rule and the fix (exit status 2), never a crash.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "fixtures.h"

namespace hetero::profiler {
namespace {

using test::Planted;
using test::TempDir;

struct Result {
  int status = -1;
  std::string output;  // stdout and stderr together
};

Result profile(const std::string& args) {
  const std::string cmd = std::string(HETERO_PROFILE_BIN) + " " + args + " 2>&1";
  Result r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

bool has(const Result& r, const std::string& text) { return r.output.find(text) != std::string::npos; }

TEST(Cli, HelpShowsEveryFormOfTheCommand) {
  const Result r = profile("--help");
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(has(r, "hetero-profile RUN")) << r.output;
  EXPECT_TRUE(has(r, "--nsys")) << r.output;
  EXPECT_TRUE(has(r, "suggest RUN --nodes N")) << r.output;
  EXPECT_TRUE(has(r, "--html")) << r.output;
}

TEST(Cli, NoInputOrAMissingRunDirectory) {
  Result r = profile("");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(has(r, "no input: give a run directory RUN")) << r.output;
  r = profile("/nonexistent/run-7");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(has(r, "run directory /nonexistent/run-7 does not exist")) << r.output;
  EXPECT_TRUE(has(r, "--out")) << r.output;  // where a run directory comes from
  r = profile("--nsys /nonexistent/rank-00000.sqlite");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(has(r, "/nonexistent/rank-00000.sqlite: no such file")) << r.output;
}

TEST(Cli, ADirectoryWithoutTracesOrMetrics) {
  TempDir dir;
  Result r = profile(dir.path());
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(has(r, dir.path() + " has neither trace/ nor metrics.jsonl")) << r.output;
  // Trace files that hold no region events (here: not JSON at all).
  std::filesystem::create_directories(dir / "trace");
  std::ofstream(dir / "trace/rank-00000.json") << "\x7f" "ELF garbage\n";
  r = profile(dir.path());
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(has(r, "holds no design §8 region events")) << r.output;
  EXPECT_TRUE(has(r, "encoder/forward")) << r.output;  // what it looked for
}

TEST(Cli, ATornLastLineIsReportedNotFatal) {
  TempDir dir;
  Planted::make(4).write_run(dir.path(), /*close_files=*/false);
  const Result r = profile(dir.path());
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(has(r, "18 trace lines were not one event")) << r.output;
  EXPECT_TRUE(has(r, "not closed by the trainer")) << r.output;
}

TEST(Cli, BadOptionsNameTheValue) {
  TempDir dir;
  Planted::make(3).write_run(dir.path());
  Result r = profile(dir.path() + " --warmup -1");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(has(r, "--warmup=-1: must be >= 0")) << r.output;
  r = profile(dir.path() + " --frobnicate");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(has(r, "frobnicate")) << r.output;
  r = profile(dir.path() + " --iter 99");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(has(r, "--iter=99: the traces have no events of that iteration (1..3)")) << r.output;
  r = profile(dir.path() + " --warmup 3");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(has(r, "no complete iteration after --warmup=3")) << r.output;
  r = profile("suggest " + dir.path());
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(has(r, "suggest needs --nodes N")) << r.output;
  r = profile(dir.path() + " --html /nonexistent/dir/report.html");
  EXPECT_EQ(r.status, 2);
  EXPECT_TRUE(has(r, "cannot write /nonexistent/dir/report.html")) << r.output;
}

}  // namespace
}  // namespace hetero::profiler
