// metrics.jsonl round trip and Megatron's iteration line (design §8).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>

#include <unistd.h>

#include "hetero/run_dir.h"

namespace hetero {
namespace {

std::string temp_file(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("hetero-unit-" + std::to_string(::getpid()) + "-" + name)).string();
}

TEST(RunDir, Paths) {
  const RunPaths p{"/runs/x"};
  EXPECT_EQ(p.rank_log(7), "/runs/x/logs/rank-00007.log");
  EXPECT_EQ(p.rank_trace(7), "/runs/x/trace/rank-00007.json");
  EXPECT_EQ(p.metrics(), "/runs/x/metrics.jsonl");
}

TEST(RunDir, MetricsRoundTripEveryField) {
  IterationMetrics m;
  m.iter = 3;
  m.consumed_samples = 24;
  m.lm_loss = 1.25;
  m.load_balancing_loss = 0.5;
  m.grad_norm = 2.5;
  m.lr = 3e-4;
  m.loss_scale = 1.0;
  m.num_zeros = 17;
  m.skipped = 1;
  m.iter_time_ms = 12.5;
  m.tokens = 384;
  m.tflops_per_gpu = 0.75;
  m.encoder_stall_ms = 4.5;
  m.bridge_wait_ms = 2.25;
  m.images = 9;
  m.data_skipped = 2;
  m.bridge_bytes = 123456789012;
  m.memory_allocated_bytes = 5'000'000'000;
  m.memory_max_allocated_bytes = 80'000'000'001;  // beyond 32 bits, exact
  m.memory_max_reserved_bytes = 90'000'000'000;
  const std::string path = temp_file("metrics.jsonl");
  std::remove(path.c_str());
  {
    MetricsWriter w(path);
    w.write(m);
    m.iter = 4;
    w.write(m);
  }
  const auto back = read_metrics(path);
  ASSERT_EQ(back.size(), 2u);
  const auto& r = back[0];
  EXPECT_EQ(r.iter, 3);
  EXPECT_EQ(back[1].iter, 4);
  EXPECT_EQ(r.consumed_samples, 24);
  EXPECT_DOUBLE_EQ(r.lm_loss, 1.25);
  EXPECT_DOUBLE_EQ(r.load_balancing_loss, 0.5);
  EXPECT_DOUBLE_EQ(r.grad_norm, 2.5);
  EXPECT_DOUBLE_EQ(r.lr, 3e-4);
  EXPECT_EQ(r.num_zeros, 17);
  EXPECT_EQ(r.skipped, 1);
  EXPECT_DOUBLE_EQ(r.iter_time_ms, 12.5);
  EXPECT_EQ(r.tokens, 384);
  EXPECT_DOUBLE_EQ(r.tflops_per_gpu, 0.75);
  EXPECT_DOUBLE_EQ(r.encoder_stall_ms, 4.5);
  EXPECT_DOUBLE_EQ(r.bridge_wait_ms, 2.25);
  EXPECT_EQ(r.images, 9);
  EXPECT_EQ(r.data_skipped, 2);
  EXPECT_EQ(r.bridge_bytes, 123456789012);
  EXPECT_EQ(r.memory_allocated_bytes, 5'000'000'000);
  EXPECT_EQ(r.memory_max_allocated_bytes, 80'000'000'001);
  EXPECT_EQ(r.memory_max_reserved_bytes, 90'000'000'000);
  std::remove(path.c_str());
}

TEST(RunDir, MalformedLineNamesFileAndLine) {
  const std::string path = temp_file("bad.jsonl");
  std::ofstream(path) << "{\"iter\": 1, \"lm_loss\": 2.0}\n{not json\n";
  try {
    read_metrics(path);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(path + ":2"), std::string::npos) << e.what();
  }
  std::remove(path.c_str());
}

TEST(RunDir, IterationLineFollowsMegatron) {
  IterationMetrics m;
  m.iter = 3;
  m.consumed_samples = 24;
  m.iter_time_ms = 41.25;
  m.lr = 2.5e-4;
  m.lm_loss = 1.23456;
  m.grad_norm = 0.5;
  const std::string line = format_iteration_line(m, 20, 8);
  EXPECT_EQ(line.rfind(" iteration        3/      20 |", 0), 0u) << line;
  const std::regex megatron(
      R"(^ iteration +3/ +20 \| consumed samples: +24 \| elapsed time per iteration \(ms\): 41\.2 \|)"
      R"( learning rate: 2\.500000E-04 \| global batch size: +8 \| lm loss: 1\.234560E\+00 \|.* grad norm: 0\.500 \|)");
  EXPECT_TRUE(std::regex_search(line, megatron)) << line;
}

// The memory line is in MiB (Megatron's "memory (MB)" divides by 1024^2).
TEST(RunDir, MemoryLineInMebibytes) {
  IterationMetrics m;
  m.iter = 1;
  m.memory_allocated_bytes = 3LL << 30;
  m.memory_max_allocated_bytes = (5LL << 30) + (1LL << 19);
  m.memory_max_reserved_bytes = 6LL << 30;
  EXPECT_EQ(format_memory_line(m),
            "(after 1 iterations) memory (MB), the largest of any rank | allocated: 3072.0 | max allocated: 5120.5 |"
            " max reserved: 6144.0");
}

}  // namespace
}  // namespace hetero
