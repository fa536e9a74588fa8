// hetero-profile on real tiny hetero runs (CPU, one encoder rank feeding two
// LLM lanes): an encoder slowed by --encoder-delay-ms shows up as the LLM's
// encoder stall in the report and in metrics.jsonl, and `suggest` gives the
// encoder more nodes than for the same run at full speed.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "hetero/run_dir.h"
#include "process.h"

namespace fs = std::filesystem;

namespace hetero::test {
namespace {

constexpr int kIters = 4;              // iteration 1 is warm-up
constexpr double kDelayMs = 200;       // slept in every encoder forward
constexpr int kMicrobatchesPerLane = 4;  // tiny: global batch 8 over 2 lanes

std::string tiny_run(const std::string& tag, double encoder_delay_ms) {
  const std::string out = fresh_dir(tag);
  std::vector<std::string> argv = {bin("hetero-launch"), "local", "--recipe", recipe("nemotron_20l"), "--scale",
                                   "tiny", "--out", out, "--iters", std::to_string(kIters)};
  if (encoder_delay_ms > 0) argv.insert(argv.end(), {"--", "--encoder-delay-ms", std::to_string(encoder_delay_ms)});
  const ProcessResult r = run(argv);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return out;
}

nlohmann::json profile_json(std::vector<std::string> args) {
  args.insert(args.begin(), bin("hetero-profile"));
  args.push_back("--json");
  const ProcessResult r = run(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

const nlohmann::json& module(const nlohmann::json& report, const std::string& name) {
  for (const auto& m : report["modules"])
    if (m["module"] == name) return m;
  throw std::runtime_error("no module " + name + " in " + report.dump());
}

double llm_stall_ms(const nlohmann::json& report) {
  return module(report, "llm")["summary"]["categories"]["encoder_stall"]["ms"].get<double>();
}

double median_metrics_stall(const std::string& run_dir) {
  std::vector<double> v;
  for (const auto& m : read_metrics(RunPaths{run_dir}.metrics()))
    if (m.iter > 1) v.push_back(m.encoder_stall_ms);
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

int best_encoder_nodes(const std::string& run_dir) {
  // Nodes of one GPU: the tiny scale's 3-rank node gives 3 or 6 lanes, and
  // neither divides its 8 microbatches, so only single GPUs split it.
  const nlohmann::json s = profile_json({"suggest", run_dir, "--nodes", "3", "--gpus-per-node", "1"})["suggest"];
  EXPECT_FALSE(s["best"].is_null()) << s.dump(1);
  return s["best"].is_null() ? 0 : s["best"]["encoder_nodes"].get<int>();
}

TEST(ProfileRun, ASlowEncoderIsTheLlmsStallAndGetsMoreNodes) {
  const std::string fast = tiny_run("profile-fast", 0);
  const std::string slow = tiny_run("profile-slow", kDelayMs);
  ASSERT_TRUE(fs::exists(fs::path(slow) / "trace" / "rank-00002.json"));

  const nlohmann::json slow_report = profile_json({slow});
  const nlohmann::json fast_report = profile_json({fast});
  // Each lane waits for the delayed forward of nearly every microbatch (a
  // microbatch whose samples are all text-only has no encoder forward).
  const double planted = kMicrobatchesPerLane * kDelayMs;
  const double stall = llm_stall_ms(slow_report);
  EXPECT_GT(stall, 0.5 * planted) << slow_report.dump(1);
  EXPECT_LT(stall, 1.5 * planted);
  EXPECT_GT(module(slow_report, "llm")["summary"]["categories"]["encoder_stall"]["pct"].get<double>(), 50.0);
  EXPECT_GT(stall, llm_stall_ms(fast_report) + 0.5 * planted);
  // The encoder's compute holds the sleep.
  EXPECT_GT(module(slow_report, "encoder")["summary"]["categories"]["compute"]["ms"].get<double>(), 0.5 * planted);

  // metrics.jsonl logs the same stall (from the LLM's first stage), and the
  // report shows what it logged.
  const double logged = median_metrics_stall(slow);
  EXPECT_GT(logged, 0.5 * planted);
  EXPECT_NEAR(logged, stall, 0.1 * stall);
  EXPECT_DOUBLE_EQ(slow_report["metrics"]["encoder_stall_ms"].get<double>(), logged);

  const int fast_best = best_encoder_nodes(fast);
  const int slow_best = best_encoder_nodes(slow);
  EXPECT_EQ(fast_best, 1);
  EXPECT_GT(slow_best, fast_best);
  if (!::testing::Test::HasFailure()) {  // kept for a look when something failed
    fs::remove_all(fast);
    fs::remove_all(slow);
  }
}

}  // namespace
}  // namespace hetero::test
