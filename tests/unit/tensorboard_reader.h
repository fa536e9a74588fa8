// Test helper: reads TensorBoard event files back, independently of the
// writer's encoding code. Every record's two masked CRC-32Cs are checked
// and each Event is decoded with a general protobuf wire-format parser, so
// a field written with the wrong number, type or length fails here.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "hetero/tensorboard.h"

namespace hetero::test {

struct DecodedScalar {
  std::string tag;
  float value = 0;
};

// One tensorflow.Event, with only the fields the writer uses.
struct DecodedEvent {
  double wall_time = 0;
  std::optional<std::int64_t> step;
  std::optional<std::string> file_version;
  std::vector<DecodedScalar> scalars;  // summary.value
};

namespace tensorboard_reader_detail {

struct WireField {
  std::uint32_t number = 0;
  std::uint32_t type = 0;
  std::uint64_t number_value = 0;  // varint, fixed64 and fixed32 fields
  std::string bytes;               // length-delimited fields
};

inline std::uint64_t read_varint(const std::string& s, std::size_t& pos) {
  std::uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos >= s.size()) throw std::runtime_error("protobuf: truncated varint");
    const auto byte = static_cast<unsigned char>(s[pos++]);
    v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return v;
  }
  throw std::runtime_error("protobuf: varint longer than ten bytes");
}

inline std::uint64_t read_little_endian(const std::string& s, std::size_t& pos, int bytes) {
  if (pos + bytes > s.size()) throw std::runtime_error("protobuf: truncated fixed-width field");
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(s[pos++])) << (8 * i);
  return v;
}

inline std::vector<WireField> parse_message(const std::string& s) {
  std::vector<WireField> fields;
  std::size_t pos = 0;
  while (pos < s.size()) {
    const std::uint64_t key = read_varint(s, pos);
    WireField f;
    f.number = static_cast<std::uint32_t>(key >> 3);
    f.type = static_cast<std::uint32_t>(key & 7);
    switch (f.type) {
      case 0: f.number_value = read_varint(s, pos); break;
      case 1: f.number_value = read_little_endian(s, pos, 8); break;
      case 5: f.number_value = read_little_endian(s, pos, 4); break;
      case 2: {
        const std::uint64_t n = read_varint(s, pos);
        if (pos + n > s.size()) throw std::runtime_error("protobuf: truncated length-delimited field");
        f.bytes = s.substr(pos, n);
        pos += n;
        break;
      }
      default: throw std::runtime_error("protobuf: unexpected wire type " + std::to_string(f.type));
    }
    fields.push_back(std::move(f));
  }
  return fields;
}

inline void expect_type(const WireField& f, std::uint32_t type, const char* what) {
  if (f.type != type) throw std::runtime_error(std::string(what) + ": wire type " + std::to_string(f.type));
}

inline DecodedScalar parse_summary_value(const std::string& bytes) {
  DecodedScalar out;
  bool has_value = false;
  for (const WireField& f : parse_message(bytes)) {
    if (f.number == 1) {
      expect_type(f, 2, "Summary.Value.tag");
      out.tag = f.bytes;
    } else if (f.number == 2) {
      expect_type(f, 5, "Summary.Value.simple_value");
      const auto bits = static_cast<std::uint32_t>(f.number_value);
      std::memcpy(&out.value, &bits, sizeof bits);
      has_value = true;
    }
  }
  if (!has_value) throw std::runtime_error("Summary.Value '" + out.tag + "' has no simple_value");
  return out;
}

// tfrecord: where the data of a record starts and ends is checked by the
// masked CRC of its length, the data itself by the masked CRC of the data.
inline std::uint32_t read_u32(const std::string& s, std::size_t pos) {
  std::size_t p = pos;
  return static_cast<std::uint32_t>(read_little_endian(s, p, 4));
}

}  // namespace tensorboard_reader_detail

inline DecodedEvent parse_event(const std::string& data) {
  namespace d = tensorboard_reader_detail;
  DecodedEvent e;
  for (const d::WireField& f : d::parse_message(data)) {
    if (f.number == 1) {
      d::expect_type(f, 1, "Event.wall_time");
      std::memcpy(&e.wall_time, &f.number_value, sizeof e.wall_time);
    } else if (f.number == 2) {
      d::expect_type(f, 0, "Event.step");
      e.step = static_cast<std::int64_t>(f.number_value);
    } else if (f.number == 3) {
      d::expect_type(f, 2, "Event.file_version");
      e.file_version = f.bytes;
    } else if (f.number == 5) {
      d::expect_type(f, 2, "Event.summary");
      for (const d::WireField& v : d::parse_message(f.bytes)) {
        if (v.number != 1) continue;
        d::expect_type(v, 2, "Summary.value");
        e.scalars.push_back(d::parse_summary_value(v.bytes));
      }
    }
  }
  return e;
}

// The data of every record in a TFRecord file; throws on a CRC mismatch or
// a truncated record.
inline std::vector<std::string> read_tfrecords(const std::string& path) {
  namespace d = tensorboard_reader_detail;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> records;
  std::size_t pos = 0;
  while (pos < file.size()) {
    const std::string where = path + " record " + std::to_string(records.size());
    if (pos + 12 > file.size()) throw std::runtime_error(where + ": truncated header");
    std::size_t p = pos;
    const std::uint64_t length = d::read_little_endian(file, p, 8);
    if (d::read_u32(file, pos + 8) != mask_crc(crc32c(file.data() + pos, 8)))
      throw std::runtime_error(where + ": length CRC mismatch");
    if (pos + 12 + length + 4 > file.size()) throw std::runtime_error(where + ": truncated data");
    std::string data = file.substr(pos + 12, length);
    if (d::read_u32(file, pos + 12 + length) != mask_crc(crc32c(data.data(), data.size())))
      throw std::runtime_error(where + ": data CRC mismatch");
    records.push_back(std::move(data));
    pos += 12 + length + 4;
  }
  return records;
}

inline std::vector<DecodedEvent> read_events(const std::string& path) {
  std::vector<DecodedEvent> events;
  for (const std::string& record : read_tfrecords(path)) events.push_back(parse_event(record));
  return events;
}

}  // namespace hetero::test
