#include "hetero/tensorboard.h"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace hetero {
namespace {

const std::array<std::uint32_t, 256>& crc32c_table() {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int bit = 0; bit < 8; ++bit) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;  // reflected Castagnoli
      t[i] = c;
    }
    return t;
  }();
  return table;
}

// Protobuf wire format, only what Event, Summary and Summary.Value need.
// Multi-byte values are written little-endian whatever the host's order.
enum WireType : std::uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_key(std::string& out, std::uint32_t field, WireType type) { put_varint(out, (field << 3) | type); }

void put_little_endian(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_double(std::string& out, std::uint32_t field, double v) {
  std::uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  put_key(out, field, kFixed64);
  put_little_endian(out, bits, 8);
}

void put_float(std::string& out, std::uint32_t field, float v) {
  std::uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  put_key(out, field, kFixed32);
  put_little_endian(out, bits, 4);
}

void put_int64(std::string& out, std::uint32_t field, std::int64_t v) {
  put_key(out, field, kVarint);
  put_varint(out, static_cast<std::uint64_t>(v));  // negative: ten bytes, as protobuf encodes int64
}

void put_bytes(std::string& out, std::uint32_t field, const std::string& bytes) {
  put_key(out, field, kLengthDelimited);
  put_varint(out, bytes.size());
  out += bytes;
}

// tensorflow.Event field numbers.
constexpr std::uint32_t kEventWallTime = 1, kEventStep = 2, kEventFileVersion = 3, kEventSummary = 5;
// tensorflow.Summary and Summary.Value field numbers.
constexpr std::uint32_t kSummaryValue = 1, kValueTag = 1, kValueSimpleValue = 2;

double unix_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string event_file_name() {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') std::strcpy(host, "localhost");
  char name[320];
  std::snprintf(name, sizeof(name), "events.out.tfevents.%010lld.%s", static_cast<long long>(unix_seconds()), host);
  return name;
}

}  // namespace

std::uint32_t crc32c(const void* data, std::size_t size) {
  const auto& table = crc32c_table();
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint32_t c = 0xffffffffu;
  for (std::size_t i = 0; i < size; ++i) c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

std::uint32_t mask_crc(std::uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

TensorBoardWriter::TensorBoardWriter(const std::string& dir) {
  std::filesystem::create_directories(dir);
  path_ = dir + "/" + event_file_name();
  // Appending: a second writer started in the same second on this host adds
  // its events after the first one's rather than erasing them.
  out_.open(path_, std::ios::binary | std::ios::app);
  if (!out_) throw std::runtime_error("cannot open " + path_ + " for writing");
  std::string event;
  put_double(event, kEventWallTime, unix_seconds());
  put_bytes(event, kEventFileVersion, "brain.Event:2");
  write_record(event);
}

void TensorBoardWriter::add_scalar(const std::string& tag, double value, std::int64_t step) {
  std::string summary_value;
  put_bytes(summary_value, kValueTag, tag);
  put_float(summary_value, kValueSimpleValue, static_cast<float>(value));
  std::string summary;
  put_bytes(summary, kSummaryValue, summary_value);
  std::string event;
  put_double(event, kEventWallTime, unix_seconds());
  put_int64(event, kEventStep, step);
  put_bytes(event, kEventSummary, summary);
  write_record(event);
}

// One TFRecord: uint64 length, masked CRC of those 8 bytes, data, masked CRC
// of the data, all little-endian.
void TensorBoardWriter::write_record(const std::string& data) {
  std::string length;
  put_little_endian(length, data.size(), 8);
  std::string record = length;
  put_little_endian(record, mask_crc(crc32c(length.data(), length.size())), 4);
  record += data;
  put_little_endian(record, mask_crc(crc32c(data.data(), data.size())), 4);
  out_.write(record.data(), static_cast<std::streamsize>(record.size()));
  out_.flush();
  if (!out_) throw std::runtime_error("failed writing " + path_);
}

void add_iteration_scalars(TensorBoardWriter& tb, const IterationMetrics& m, int global_batch_size, bool moe) {
  auto add = [&](const std::string& tag, double value) {
    tb.add_scalar(tag, value, m.iter);
    tb.add_scalar(tag + " vs samples", value, m.consumed_samples);
  };
  add("lm loss", m.lm_loss);
  add("learning-rate", m.lr);
  // A skipped step (non-finite gradients) has no norm or zero count to
  // report; Megatron logs neither for it.
  if (std::isfinite(m.grad_norm)) {
    add("grad-norm", m.grad_norm);
    add("num-zeros", static_cast<double>(m.num_zeros));
  }
  add("batch-size", global_batch_size);
  add("iteration-time", m.iter_time_ms / 1e3);
  // A dense model has no balancing loss (its field stays 0); zeros would
  // read as a perfectly balanced router.
  if (moe) add("load_balancing_loss", m.load_balancing_loss);
  // Megatron's memory tags (at iterations only); a CPU run has no counters.
  if (m.memory_max_reserved_bytes > 0) {
    tb.add_scalar("mem-allocated-bytes", static_cast<double>(m.memory_allocated_bytes), m.iter);
    tb.add_scalar("mem-max-allocated-bytes", static_cast<double>(m.memory_max_allocated_bytes), m.iter);
    tb.add_scalar("mem-max-reserved-bytes", static_cast<double>(m.memory_max_reserved_bytes), m.iter);
  }
}

}  // namespace hetero
