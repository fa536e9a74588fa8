// Design §4 on real data: a blend of Megatron indexed text and Energon-style
// image-text shards (PNG and JPEG, packed), written by the test, trains to
// the same per-iteration loss and grad norm in every layout as in one process.
#include <gtest/gtest.h>

#include <cmath>

#include "../data/data_fixtures.h"
#include "data/image_codec.h"
#include "data/indexed_dataset.h"
#include "hetero/rng.h"
#include "hetero/run_dir.h"
#include "process.h"

namespace hetero::test {
namespace {

constexpr int kIters = 12;
constexpr double kRtol = 1e-5;
constexpr std::int64_t kImageToken = 62;  // tiny vocab is 64: text uses 1..61

// A learnable chain over 1..61 from a seeded start, so the loss can fall.
std::vector<std::int64_t> chain(const CounterRng& rng, std::uint64_t& draw, int len) {
  std::vector<std::int64_t> t{1 + static_cast<std::int64_t>(rng.bits(draw++) % 61)};
  while (static_cast<int>(t.size()) < len) t.push_back(1 + (7 * (t.back() - 1) + 3) % 61);
  return t;
}

// The blend's two sources, written once per test process.
const std::vector<std::string>& blend_overrides() {
  static const std::vector<std::string> sets = [] {
    const std::string dir = fresh_data_dir("blend");
    const CounterRng rng(2024);
    std::uint64_t draw = 0;
    std::vector<std::vector<std::int64_t>> docs;
    for (int d = 0; d < 150; ++d) docs.push_back(chain(rng, draw, 5 + static_cast<int>(rng.bits(draw++) % 56)));
    write_indexed_dataset(dir + "/text", docs, 8);
    std::vector<std::vector<ShardSampleSpec>> shards(3);
    for (int i = 0; i < 60; ++i) {
      ShardSampleSpec s{"s" + std::to_string(1000 + i), chain(rng, draw, 3 + i % 10), {}, {}, ""};
      const int images = 1 + (i % 4 == 0);
      for (int k = 0; k < images; ++k) {
        const RgbImage img = random_image(4 + static_cast<int>(rng.bits(draw++) % 9),
                                          4 + static_cast<int>(rng.bits(draw++) % 9), rng.bits(draw++));
        s.images.push_back(k % 2 == i % 2 ? std::make_pair(std::string("png"), encode_png(img))
                                          : std::make_pair(std::string("jpg"), encode_jpeg(img)));
        s.tokens.push_back(kImageToken);
        for (auto t : chain(rng, draw, 4)) s.tokens.push_back(t);
      }
      shards[i % 3].push_back(s);
    }
    write_shard_folder(dir + "/vlm", shards);
    return std::vector<std::string>{"data.blend=[{path: " + dir + "/text, weight: 0.7}, {path: " + dir +
                                        "/vlm, weight: 0.3}]",
                                    "data.image_token_id=62", "data.packing=true", "data.prefetch_depth=2"};
  }();
  return sets;
}

std::vector<IterationMetrics> train(const std::string& name, const std::vector<std::string>& scale_sets) {
  const std::string out = fresh_dir(name);
  std::vector<std::string> argv{bin("hetero-launch"), "local", "--recipe", recipe("nemotron_20l"), "--scale",
                                "tiny", "--out", out, "--iters", std::to_string(kIters)};
  for (const auto& s : scale_sets) argv.insert(argv.end(), {"--set", "scales.tiny." + s});
  for (const auto& s : blend_overrides()) argv.insert(argv.end(), {"--set", s});
  const ProcessResult r = run(argv);
  EXPECT_EQ(r.exit_code, 0) << name << " failed:\n" << r.err;
  return read_metrics(RunPaths{out}.metrics());
}

double rel(double a, double b) { return std::fabs(a - b) / std::fabs(b); }

void expect_matches_single_process(const std::string& name, const std::vector<std::string>& sets) {
  static const auto ref = train("real-single", {"mode=colocated", "llm.ranks=1", "gpus_per_node=1"});
  const auto got = train(name, sets);
  ASSERT_EQ(ref.size(), static_cast<size_t>(kIters));
  ASSERT_EQ(got.size(), static_cast<size_t>(kIters)) << name;
  int with_images = 0;
  for (int i = 0; i < kIters; ++i) {
    EXPECT_LE(rel(got[i].lm_loss, ref[i].lm_loss), kRtol)
        << name << " iteration " << i + 1 << ": lm loss " << got[i].lm_loss << " vs " << ref[i].lm_loss;
    EXPECT_LE(rel(got[i].grad_norm, ref[i].grad_norm), kRtol)
        << name << " iteration " << i + 1 << ": grad norm " << got[i].grad_norm << " vs " << ref[i].grad_norm;
    EXPECT_EQ(got[i].images, ref[i].images) << name << " iteration " << i + 1;
    with_images += got[i].images > 0;
  }
  EXPECT_GE(with_images, kIters / 2) << name << ": the image-text share reaches the encoder";
  EXPECT_LT(got.back().lm_loss, 0.9 * got.front().lm_loss) << name << ": the real data trains";
}

TEST(RealDataInvariance, HeteroFanOutOneEncoderTwoLanes) {
  expect_matches_single_process("real-fan-out", {"encoder.ranks=1", "llm.ranks=2", "gpus_per_node=3"});
}

TEST(RealDataInvariance, HeteroFanInTwoEncodersOneLane) {
  expect_matches_single_process("real-fan-in", {"encoder.ranks=2", "llm.ranks=1", "gpus_per_node=3"});
}

TEST(RealDataInvariance, HeteroLlmTensorParallel2) {
  expect_matches_single_process("real-tp2", {"encoder.ranks=1", "llm.ranks=2", "llm.tp=2", "gpus_per_node=3"});
}

TEST(RealDataInvariance, HeteroLlmPipeline2) {
  expect_matches_single_process("real-pp2", {"encoder.ranks=1", "llm.ranks=2", "llm.pp=2", "gpus_per_node=3"});
}


// Bad data stops every rank with the dataset's message, or, with
// data.skip_bad_samples, is skipped and counted in metrics.jsonl.
TEST(RealData, BadSamplesStopTheRunOrAreSkippedAndCounted) {
  const std::string dir = fresh_data_dir("bad-run");
  const CounterRng rng(5);
  std::uint64_t draw = 0;
  std::vector<std::vector<ShardSampleSpec>> shards(1);
  for (int i = 0; i < 8; ++i) {
    ShardSampleSpec s{"k" + std::to_string(i), chain(rng, draw, 6), {}, {}, ""};
    s.tokens.push_back(kImageToken);
    s.images.push_back({"png", encode_png(random_image(6, 6, static_cast<std::uint64_t>(i)))});
    if (i == 3) s.tokens.push_back(kImageToken);  // two placeholders, one image
    shards[0].push_back(s);
  }
  write_shard_folder(dir + "/vlm", shards);
  auto launch_into = [&](const std::string& out, bool skip, int iters) {
    return run({bin("hetero-launch"), "local", "--recipe", recipe("nemotron_20l"), "--scale", "tiny", "--out", out,
                "--iters", std::to_string(iters), "--set", "scales.tiny.mode=colocated", "--set",
                "scales.tiny.llm.ranks=1", "--set", "scales.tiny.gpus_per_node=1", "--set",
                "data.blend=[{path: " + dir + "/vlm, weight: 1}]", "--set", "data.image_token_id=62", "--set",
                std::string("data.skip_bad_samples=") + (skip ? "true" : "false")});
  };
  auto launch = [&](const std::string& name, bool skip) {
    const std::string out = fresh_dir(name);
    return std::make_pair(launch_into(out, skip, 2), out);
  };
  const auto [strict, strict_out] = launch("bad-strict", false);
  EXPECT_NE(strict.exit_code, 0);
  EXPECT_NE(strict.err.find("sample 'k3'"), std::string::npos) << strict.err;
  EXPECT_NE(strict.err.find("2 image placeholders (data.image_token_id=62) but 1 images"), std::string::npos)
      << strict.err;
  const auto [lenient, out] = launch("bad-skip", true);
  ASSERT_EQ(lenient.exit_code, 0) << lenient.err;
  const auto m = read_metrics(RunPaths{out}.metrics());
  ASSERT_EQ(m.size(), 2u);
  // 8 samples, one bad: each iteration (GBS 8) is one epoch and meets it once,
  // however far the loader reads ahead.
  EXPECT_EQ(m[0].data_skipped, 1);
  EXPECT_EQ(m[1].data_skipped, 2);
  EXPECT_NE((lenient.out + lenient.err).find("skipped a bad sample"), std::string::npos);
  // The count lives in the end-of-run checkpoint: a start that resumes it
  // goes on counting instead of starting again from 0.
  const ProcessResult resumed = launch_into(out, true, 3);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const auto m3 = read_metrics(RunPaths{out}.metrics());
  ASSERT_EQ(m3.size(), 3u);
  EXPECT_EQ(m3[2].data_skipped, 3);
}

TEST(RealData, AMissingSourceNamesThePath) {
  const std::string out = fresh_dir("missing-source");
  const ProcessResult r =
      run({bin("hetero-launch"), "local", "--recipe", recipe("nemotron_20l"), "--scale", "tiny", "--out", out, "--iters",
           "1", "--set", "data.blend=[{path: /nonexistent/web_text_document, weight: 1}]", "--set",
           "data.image_token_id=62"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("/nonexistent/web_text_document: neither a Megatron indexed dataset"), std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace hetero::test
