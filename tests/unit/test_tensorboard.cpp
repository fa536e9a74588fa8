// TensorBoard event files (tensorboard.h): TFRecord framing with masked
// CRC-32Cs, the file_version event first, scalars that decode to exactly the
// tags, steps and float values written, and Megatron-LM's tag names.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <regex>
#include <set>

#include "hetero/tensorboard.h"
#include "tensorboard_reader.h"

namespace fs = std::filesystem;

namespace hetero {
namespace {

using test::DecodedEvent;
using test::read_events;

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("hetero-unit-" + std::to_string(::getpid()) + "-" + name);
  fs::remove_all(dir);
  return dir;
}

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// (tag, step) -> value of every scalar event after the file_version one.
using Scalars = std::map<std::pair<std::string, std::int64_t>, float>;
Scalars scalars_by_tag_and_step(const std::vector<DecodedEvent>& events) {
  Scalars out;
  for (std::size_t i = 1; i < events.size(); ++i) {
    EXPECT_TRUE(events[i].step.has_value());
    EXPECT_EQ(events[i].scalars.size(), 1u);  // one scalar per event, as torch's SummaryWriter writes
    for (const auto& s : events[i].scalars) out[{s.tag, events[i].step.value_or(-1)}] = s.value;
  }
  return out;
}

// The value of one tag at one step; throws (failing the test) when absent.
float at(const Scalars& scalars, const std::string& tag, std::int64_t step) {
  const auto it = scalars.find({tag, step});
  if (it == scalars.end()) throw std::runtime_error("no '" + tag + "' at step " + std::to_string(step));
  return it->second;
}

TEST(TensorBoard, Crc32cMatchesTheStandardCheckValueAndTfRecordsMask) {
  const std::string check = "123456789";
  EXPECT_EQ(crc32c(check.data(), check.size()), 0xE3069283u);
  EXPECT_EQ(crc32c("", 0), 0u);
  // Masked values computed by an independent bitwise CRC-32C.
  EXPECT_EQ(mask_crc(0xE3069283u), 0xC78AB0E5u);
  EXPECT_EQ(mask_crc(0), 0xA282EAD8u);
  const unsigned char length_24[8] = {24, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(mask_crc(crc32c(length_24, 8)), 0x224B7FA3u);
}

TEST(TensorBoard, FileIsNamedForTimeAndHostAndStartsWithTheFileVersion) {
  const fs::path dir = fresh_dir("tb-name") / "tensorboard";
  const double before = unix_now();
  TensorBoardWriter tb(dir.string());
  const double after = unix_now();

  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  const std::string name = fs::path(tb.path()).filename().string();
  std::smatch match;
  ASSERT_TRUE(std::regex_match(name, match, std::regex(R"(events\.out\.tfevents\.(\d{10})\.(.+))"))) << name;
  EXPECT_EQ(match[2].str(), host);
  EXPECT_GE(std::stoll(match[1].str()), static_cast<long long>(before));
  EXPECT_LE(std::stoll(match[1].str()), static_cast<long long>(after));
  EXPECT_EQ(fs::path(tb.path()).parent_path(), dir);

  const std::vector<DecodedEvent> events = read_events(tb.path());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].file_version, "brain.Event:2");
  EXPECT_FALSE(events[0].step.has_value());
  EXPECT_TRUE(events[0].scalars.empty());
  EXPECT_GE(events[0].wall_time, before);
  EXPECT_LE(events[0].wall_time, after);
  fs::remove_all(dir.parent_path());
}

TEST(TensorBoard, ScalarsDecodeToExactlyTheTagsStepsAndFloatValuesWritten) {
  const fs::path dir = fresh_dir("tb-scalars");
  const std::string long_tag(200, 'x');  // a length that needs a two-byte varint
  const std::int64_t big_step = std::int64_t{1} << 40;
  std::string path;
  {
    TensorBoardWriter tb(dir.string());
    path = tb.path();
    tb.add_scalar("lm loss", 10.123456789, 1);
    tb.add_scalar("lm loss vs samples", 10.123456789, 8);
    tb.add_scalar("learning-rate", 3e-5, 2);
    tb.add_scalar(long_tag, -0.1, big_step);
    tb.add_scalar("zero", 0.0, 0);
    tb.add_scalar("not a number", std::numeric_limits<double>::quiet_NaN(), 3);
  }
  const std::vector<DecodedEvent> events = read_events(path);
  ASSERT_EQ(events.size(), 7u);
  EXPECT_EQ(events[0].file_version, "brain.Event:2");
  for (std::size_t i = 1; i < events.size(); ++i) {
    EXPECT_FALSE(events[i].file_version.has_value());
    EXPECT_GE(events[i].wall_time, events[i - 1].wall_time);
  }
  const Scalars scalars = scalars_by_tag_and_step(events);
  EXPECT_EQ(scalars.size(), 6u);
  EXPECT_EQ(at(scalars, "lm loss", 1), static_cast<float>(10.123456789));
  EXPECT_EQ(at(scalars, "lm loss vs samples", 8), static_cast<float>(10.123456789));
  EXPECT_EQ(at(scalars, "learning-rate", 2), static_cast<float>(3e-5));
  EXPECT_EQ(at(scalars, long_tag, big_step), static_cast<float>(-0.1));
  EXPECT_EQ(at(scalars, "zero", 0), 0.0f);
  EXPECT_TRUE(std::isnan(at(scalars, "not a number", 3)));
  fs::remove_all(dir);
}

TEST(TensorBoard, EveryRecordIsOnDiskBeforeTheWriterCloses) {
  const fs::path dir = fresh_dir("tb-flush");
  TensorBoardWriter tb(dir.string());
  tb.add_scalar("lm loss", 2.5, 1);
  // Still open, as in a run that crashes next: the file already decodes.
  const std::vector<DecodedEvent> events = read_events(tb.path());
  ASSERT_EQ(events.size(), 2u);
  ASSERT_EQ(events[1].scalars.size(), 1u);
  EXPECT_EQ(events[1].scalars[0].value, 2.5f);
  fs::remove_all(dir);
}

TEST(TensorBoard, ReaderRejectsACorruptedRecord) {
  // The decoding tests rely on the reader checking CRCs: prove it does.
  const fs::path dir = fresh_dir("tb-corrupt");
  std::string path;
  {
    TensorBoardWriter tb(dir.string());
    path = tb.path();
    tb.add_scalar("lm loss", 2.5, 1);
  }
  const auto size = fs::file_size(path);
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  const auto inside_last_data = static_cast<std::streamoff>(size) - 6;  // before the 4-byte data CRC
  f.seekg(inside_last_data);
  const char byte = static_cast<char>(f.get());
  f.seekp(inside_last_data);
  f.put(static_cast<char>(byte ^ 0x01));
  f.close();
  EXPECT_THROW(read_events(path), std::runtime_error);
  fs::resize_file(path, size - 2);  // a truncated last record
  EXPECT_THROW(read_events(path), std::runtime_error);
  fs::remove_all(dir);
}

TEST(TensorBoard, IterationScalarsUseMegatronTagsAtIterationAndSampleSteps) {
  const fs::path dir = fresh_dir("tb-megatron");
  IterationMetrics m;
  m.iter = 3;
  m.consumed_samples = 24;
  m.lm_loss = 9.75;
  m.lr = 1.5e-4;
  m.grad_norm = 2.25;
  m.num_zeros = 7;
  m.iter_time_ms = 1250;
  std::string path;
  {
    TensorBoardWriter tb(dir.string());
    path = tb.path();
    add_iteration_scalars(tb, m, 8, /*moe=*/false);
  }
  const Scalars scalars = scalars_by_tag_and_step(read_events(path));
  const std::map<std::string, float> expected = {
      {"lm loss", 9.75f}, {"learning-rate", static_cast<float>(1.5e-4)}, {"grad-norm", 2.25f},
      {"num-zeros", 7.0f}, {"batch-size", 8.0f},  {"iteration-time", 1.25f},  // seconds, as Megatron
  };
  EXPECT_EQ(scalars.size(), 2 * expected.size());  // a dense model: no load_balancing_loss
  for (const auto& [tag, value] : expected) {
    EXPECT_EQ(at(scalars, tag, 3), value) << tag;
    EXPECT_EQ(at(scalars, tag + " vs samples", 24), value) << tag;
  }
  fs::remove_all(dir);
}

TEST(TensorBoard, ARunOnCudaAlsoLogsMegatronsMemoryTagsAtIterations) {
  const fs::path dir = fresh_dir("tb-memory");
  IterationMetrics m;
  m.iter = 2;
  m.consumed_samples = 16;
  m.memory_allocated_bytes = 3LL << 30;
  m.memory_max_allocated_bytes = 5LL << 30;
  m.memory_max_reserved_bytes = 6LL << 30;
  std::string path;
  {
    TensorBoardWriter tb(dir.string());
    path = tb.path();
    add_iteration_scalars(tb, m, 8, /*moe=*/false);
  }
  const Scalars scalars = scalars_by_tag_and_step(read_events(path));
  EXPECT_EQ(at(scalars, "mem-allocated-bytes", 2), static_cast<float>(3LL << 30));
  EXPECT_EQ(at(scalars, "mem-max-allocated-bytes", 2), static_cast<float>(5LL << 30));
  EXPECT_EQ(at(scalars, "mem-max-reserved-bytes", 2), static_cast<float>(6LL << 30));
  EXPECT_EQ(scalars.count({"mem-allocated-bytes vs samples", 16}), 0u);
  fs::remove_all(dir);
}

TEST(TensorBoard, AModelWithMoeLayersAlsoLogsMegatronsLoadBalancingLoss) {
  const fs::path dir = fresh_dir("tb-moe");
  IterationMetrics m;
  m.iter = 3;
  m.consumed_samples = 24;
  m.grad_norm = 1;
  m.load_balancing_loss = 1.125;
  std::string path;
  {
    TensorBoardWriter tb(dir.string());
    path = tb.path();
    add_iteration_scalars(tb, m, 8, /*moe=*/true);
  }
  const Scalars scalars = scalars_by_tag_and_step(read_events(path));
  EXPECT_EQ(scalars.size(), 2u * 7);
  EXPECT_EQ(at(scalars, "load_balancing_loss", 3), 1.125f);
  EXPECT_EQ(at(scalars, "load_balancing_loss vs samples", 24), 1.125f);
  fs::remove_all(dir);
}

TEST(TensorBoard, ASkippedStepHasNoGradNormOrZeroCount) {
  const fs::path dir = fresh_dir("tb-skipped");
  IterationMetrics m;
  m.iter = 2;
  m.consumed_samples = 16;
  m.grad_norm = std::numeric_limits<double>::quiet_NaN();
  std::string path;
  {
    TensorBoardWriter tb(dir.string());
    path = tb.path();
    add_iteration_scalars(tb, m, 8, /*moe=*/false);
  }
  std::set<std::string> tags;
  for (const auto& [key, value] : scalars_by_tag_and_step(read_events(path))) tags.insert(key.first);
  EXPECT_EQ(tags.count("lm loss"), 1u);
  EXPECT_EQ(tags.count("grad-norm"), 0u);
  EXPECT_EQ(tags.count("num-zeros"), 0u);
  EXPECT_EQ(tags.count("grad-norm vs samples"), 0u);
  fs::remove_all(dir);
}

TEST(TensorBoard, UnwritableDirectoryThrows) {
  const fs::path file = fresh_dir("tb-blocked");
  std::ofstream(file.string()) << "a file where the directory should go";
  EXPECT_ANY_THROW(TensorBoardWriter(file.string() + "/tensorboard"));
  fs::remove(file);
}

}  // namespace
}  // namespace hetero
