// hetero-train --tensorboard on a real tiny hetero run (CPU, 3 ranks): the
// logging rank alone writes one event file under RUN/tensorboard whose
// Megatron-style scalars match metrics.jsonl; without the flag none is written.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "../unit/tensorboard_reader.h"
#include "hetero/run_dir.h"
#include "process.h"

namespace fs = std::filesystem;

namespace hetero::test {
namespace {

constexpr int kIters = 3;
constexpr int kGlobalBatch = 8;  // the tiny scale's

ProcessResult tiny_run(const std::string& out, const std::vector<std::string>& trainer_args) {
  std::vector<std::string> argv = {bin("hetero-launch"), "local", "--recipe", recipe("nemotron_20l"), "--scale",
                                   "tiny", "--out", out, "--iters", std::to_string(kIters)};
  if (!trainer_args.empty()) {
    argv.push_back("--");
    argv.insert(argv.end(), trainer_args.begin(), trainer_args.end());
  }
  return run(argv);
}

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(dir)) out.push_back(entry.path());
  return out;
}

// step -> value of one tag's events.
std::map<std::int64_t, float> series(const std::vector<DecodedEvent>& events, const std::string& tag) {
  std::map<std::int64_t, float> out;
  for (const DecodedEvent& e : events)
    for (const DecodedScalar& s : e.scalars)
      if (s.tag == tag) {
        EXPECT_EQ(out.count(e.step.value_or(-1)), 0u) << tag << " written twice at step " << *e.step;
        out[e.step.value_or(-1)] = s.value;
      }
  return out;
}

TEST(TensorBoardRun, LoggingRankWritesMegatronScalarsMatchingMetrics) {
  const std::string out = fresh_dir("tensorboard");
  const ProcessResult r = tiny_run(out, {"--tensorboard"});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  const RunPaths paths{out};
  ASSERT_TRUE(fs::is_directory(paths.tensorboard_dir()));
  const std::vector<fs::path> files = files_in(paths.tensorboard_dir());
  ASSERT_EQ(files.size(), 1u) << "only the logging rank writes events";
  EXPECT_EQ(files[0].filename().string().rfind("events.out.tfevents.", 0), 0u) << files[0];

  const std::vector<DecodedEvent> events = read_events(files[0].string());  // throws on a bad CRC
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0].file_version, "brain.Event:2");

  const std::vector<IterationMetrics> metrics = read_metrics(paths.metrics());
  ASSERT_EQ(metrics.size(), static_cast<std::size_t>(kIters));
  const auto loss = series(events, "lm loss");
  const auto loss_vs_samples = series(events, "lm loss vs samples");
  ASSERT_EQ(loss.size(), static_cast<std::size_t>(kIters));
  ASSERT_EQ(loss_vs_samples.size(), static_cast<std::size_t>(kIters));
  for (const IterationMetrics& m : metrics) {
    const std::int64_t samples = static_cast<std::int64_t>(m.iter) * kGlobalBatch;  // 8, 16, 24
    ASSERT_EQ(loss.count(m.iter), 1u) << m.iter;
    ASSERT_EQ(loss_vs_samples.count(samples), 1u) << samples;
    EXPECT_EQ(loss.at(m.iter), static_cast<float>(m.lm_loss)) << m.iter;
    EXPECT_EQ(loss_vs_samples.at(samples), static_cast<float>(m.lm_loss)) << samples;
    EXPECT_EQ(series(events, "learning-rate").at(m.iter), static_cast<float>(m.lr)) << m.iter;
    EXPECT_EQ(series(events, "grad-norm").at(m.iter), static_cast<float>(m.grad_norm)) << m.iter;
    EXPECT_EQ(series(events, "batch-size vs samples").at(samples), static_cast<float>(kGlobalBatch));
  }
  for (const std::string tag : {"num-zeros", "iteration-time"})
    EXPECT_EQ(series(events, tag).size(), static_cast<std::size_t>(kIters)) << tag;
  EXPECT_TRUE(series(events, "load_balancing_loss").empty()) << "nemotron_20l is dense";
}

TEST(TensorBoardRun, OffByDefault) {
  const std::string out = fresh_dir("no-tensorboard");
  const ProcessResult r = tiny_run(out, {});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(fs::exists(RunPaths{out}.tensorboard_dir()));
}

}  // namespace
}  // namespace hetero::test
