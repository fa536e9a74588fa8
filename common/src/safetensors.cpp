#include "hetero/safetensors.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>

#include <fcntl.h>
#include <unistd.h>
#include <limits>
#include <nlohmann/json.hpp>

#include "hetero/shape_text.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.cpp assumes a little-endian host"
#endif

namespace hetero {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // the reference implementation's limit

[[noreturn]] void fail(const std::string& path, const std::string& tensor, const std::string& reason) {
  std::string msg = "safetensors file " + path;
  if (!tensor.empty()) msg += ", tensor '" + tensor + "'";
  throw SafeTensorsError(msg + ": " + reason);
}

uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

float bf16_to_float(uint16_t h) { return bits_float(static_cast<uint32_t>(h) << 16); }

uint16_t float_to_bf16(float f) {
  const uint32_t u = float_bits(f);
  if (std::isnan(f)) return static_cast<uint16_t>((u >> 16) | 0x40);   // stay a (quiet) NaN
  return static_cast<uint16_t>((u + 0x7FFF + ((u >> 16) & 1)) >> 16);  // round to nearest even
}

float f16_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const int exp = (h >> 10) & 0x1F;
  const uint32_t mant = h & 0x3FF;
  if (exp == 0x1F) return bits_float(sign | 0x7F800000u | (mant << 13));  // inf / NaN
  if (exp == 0) {                                                         // zero / subnormal
    const float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  return bits_float(sign | (static_cast<uint32_t>(exp - 15 + 127) << 23) | (mant << 13));
}

uint16_t float_to_f16(float f) {
  const uint32_t u = float_bits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000);
  if (std::isnan(f)) return sign | 0x7E00;
  const float a = std::fabs(f);
  if (a >= 65520.0f) return sign | 0x7C00;            // rounds to infinity
  if (a < std::ldexp(1.0f, -14)) {                    // subnormal half: multiples of 2^-24
    const float q = std::nearbyint(a * 16777216.0f);  // default rounding mode: to nearest even
    return sign | static_cast<uint16_t>(q);
  }
  const uint32_t au = float_bits(a);
  const uint32_t exp = ((au >> 23) & 0xFF) - 127 + 15;
  uint32_t mant = au & 0x7FFFFF;
  uint32_t h = (exp << 10) | (mant >> 13);
  const uint32_t rest = mant & 0x1FFF;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) ++h;  // carries into the exponent correctly
  return sign | static_cast<uint16_t>(h);
}

const std::map<std::string, int>& dtype_sizes() {
  static const std::map<std::string, int> sizes = {{"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1},
                                                   {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
                                                   {"U32", 4},  {"F32", 4}, {"I64", 8}, {"U64", 8},     {"F64", 8}};
  return sizes;
}

bool readable_dtype(const std::string& d) { return d == "F32" || d == "F16" || d == "BF16" || d == "F64"; }

uint64_t checked_numel(const std::vector<int64_t>& shape, const std::string& path, const std::string& name) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) fail(path, name, "negative dimension in shape " + shape_text(shape));
    if (d != 0 && n > std::numeric_limits<uint64_t>::max() / 16 / static_cast<uint64_t>(d))
      fail(path, name, "shape " + shape_text(shape) + " is too large");
    n *= static_cast<uint64_t>(d);
  }
  return n;
}

// A header holding only the metadata (absent when there is none).
nlohmann::ordered_json header_with_metadata(const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (metadata.empty()) return header;
  nlohmann::ordered_json meta = nlohmann::ordered_json::object();
  for (const auto& [k, v] : metadata) meta[k] = v;
  header["__metadata__"] = meta;
  return header;
}

// One header for both writers: entries in the order given, data 8-byte aligned.
std::string header_text(const nlohmann::ordered_json& header) {
  std::string text = header.dump();
  while ((8 + text.size()) % 8) text += ' ';
  return text;
}

void write_all(int fd, const void* data, uint64_t bytes, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::write(fd, p, bytes > (1u << 30) ? (1u << 30) : bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(path, "", std::string("write failed: ") + std::strerror(errno));
    p += n;
    bytes -= static_cast<uint64_t>(n);
  }
}

}  // namespace

int safetensors_dtype_size(const std::string& dtype) {
  const auto it = dtype_sizes().find(dtype);
  return it == dtype_sizes().end() ? 0 : it->second;
}

int64_t SafeTensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

void write_safetensors(const std::string& path, const std::map<std::string, SafeTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = header_with_metadata(metadata);
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__") fail(path, name, "'__metadata__' is reserved and cannot name a tensor");
    const std::string dtype = t.dtype.empty() ? "F32" : t.dtype;
    if (!readable_dtype(dtype)) fail(path, name, "cannot write dtype '" + dtype + "' (F32, F16, BF16 or F64)");
    const uint64_t n = checked_numel(t.shape, path, name);
    if (n != t.values.size())
      fail(path, name,
           "shape " + shape_text(t.shape) + " needs " + std::to_string(n) + " values, got " +
               std::to_string(t.values.size()));
    const uint64_t bytes = n * static_cast<uint64_t>(safetensors_dtype_size(dtype));
    header[name] = {{"dtype", dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  const std::string text = header_text(header);

  // Written beside and renamed over the target: a failed write (a full disk)
  // leaves an earlier file of that name whole.
  const std::string tmp = path + ".partial";
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  if (!out) fail(path, "", std::string("cannot open ") + tmp + " for writing: " + std::strerror(errno));
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>((uint64_t{text.size()} >> (8 * i)) & 0xFF);
  out.write(reinterpret_cast<const char*>(len), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  std::vector<char> buf;
  for (const auto& [name, t] : tensors) {
    const std::string dtype = t.dtype.empty() ? "F32" : t.dtype;
    const size_t n = t.values.size();
    buf.resize(n * safetensors_dtype_size(dtype));
    for (size_t i = 0; i < n; ++i) {
      const float v = t.values[i];
      if (dtype == "F32") {
        std::memcpy(&buf[4 * i], &v, 4);
      } else if (dtype == "F64") {
        const double d = v;
        std::memcpy(&buf[8 * i], &d, 8);
      } else {
        const uint16_t h = dtype == "BF16" ? float_to_bf16(v) : float_to_f16(v);
        std::memcpy(&buf[2 * i], &h, 2);
      }
    }
    out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
  }
  out.flush();
  if (!out) {
    const int err = errno;
    out.close();
    std::remove(tmp.c_str());
    fail(path, "", std::string("cannot write: ") + std::strerror(err));
  }
  out.close();
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    fail(path, "", std::string("cannot rename ") + tmp + " over it: " + std::strerror(err));
  }
}

void write_safetensors_raw(const std::string& path, const std::vector<RawTensor>& tensors,
                           const std::map<std::string, std::string>& metadata, bool durable) {
  nlohmann::ordered_json header = header_with_metadata(metadata);
  uint64_t offset = 0;
  for (const RawTensor& t : tensors) {
    if (t.name == "__metadata__") fail(path, t.name, "'__metadata__' is reserved and cannot name a tensor");
    if (header.contains(t.name)) fail(path, t.name, "named twice");
    const int elem = safetensors_dtype_size(t.dtype);
    if (elem == 0) fail(path, t.name, "unknown dtype '" + t.dtype + "'");
    const uint64_t want = checked_numel(t.shape, path, t.name) * static_cast<uint64_t>(elem);
    if (want != t.bytes)
      fail(path, t.name, t.dtype + " " + shape_text(t.shape) + " needs " + std::to_string(want) + " bytes, got " +
                             std::to_string(t.bytes));
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes}}};
    offset += t.bytes;
  }
  const std::string text = header_text(header);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(path, "", std::string("cannot open for writing: ") + std::strerror(errno));
  try {
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>((uint64_t{text.size()} >> (8 * i)) & 0xFF);
    write_all(fd, len, 8, path);
    write_all(fd, text.data(), text.size(), path);
    for (const RawTensor& t : tensors) write_all(fd, t.data, t.bytes, path);
    if (durable && ::fsync(fd) != 0) fail(path, "", std::string("fsync failed: ") + std::strerror(errno));
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::close(fd) != 0) fail(path, "", std::string("close failed: ") + std::strerror(errno));
}

SafeTensorReader::SafeTensorReader(const std::string& path) : path_(path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) fail(path, "", "cannot open");
  const uint64_t file_size = static_cast<uint64_t>(in.tellg());
  if (file_size < 8)
    fail(path, "", "file is " + std::to_string(file_size) + " bytes, shorter than the 8-byte header length");
  in.seekg(0);
  unsigned char len[8];
  in.read(reinterpret_cast<char*>(len), 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len[i];
  if (n > file_size - 8)
    fail(path, "", "header length " + std::to_string(n) + " exceeds the file size " + std::to_string(file_size));
  if (n > kMaxHeaderBytes) fail(path, "", "header length " + std::to_string(n) + " exceeds 100 MiB");
  std::string text(n, '\0');
  in.read(text.data(), static_cast<std::streamsize>(n));
  if (!in) fail(path, "", "cannot read the header");
  data_start_ = 8 + n;
  const uint64_t data_size = file_size - data_start_;

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    fail(path, "", std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) fail(path, "", "header is not a JSON object");
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) fail(path, "", "__metadata__ is not an object of strings");
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string()) fail(path, "", "__metadata__ value of '" + k + "' is not a string");
        metadata_[k] = v.get<std::string>();
      }
      continue;
    }
    if (!entry.is_object()) fail(path, name, "header entry is not an object");
    SafeTensorInfo info;
    const auto dt = entry.find("dtype");
    if (dt == entry.end() || !dt->is_string()) fail(path, name, "missing or non-string \"dtype\"");
    info.dtype = dt->get<std::string>();
    const int elem = safetensors_dtype_size(info.dtype);
    if (elem == 0) fail(path, name, "unknown dtype '" + info.dtype + "'");
    const auto sh = entry.find("shape");
    if (sh == entry.end() || !sh->is_array()) fail(path, name, "missing or non-array \"shape\"");
    for (const auto& d : *sh) {
      if (!d.is_number_integer()) fail(path, name, "shape holds a non-integer");
      info.shape.push_back(d.get<int64_t>());
    }
    const auto off = entry.find("data_offsets");
    if (off == entry.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
        !(*off)[1].is_number_unsigned())
      fail(path, name, "\"data_offsets\" must be [begin, end] with non-negative integers");
    info.begin = (*off)[0].get<uint64_t>();
    info.end = (*off)[1].get<uint64_t>();
    if (info.begin > info.end)
      fail(path, name,
           "data_offsets [" + std::to_string(info.begin) + ", " + std::to_string(info.end) + "] end before they begin");
    if (info.end > data_size)
      fail(path, name,
           "data_offsets [" + std::to_string(info.begin) + ", " + std::to_string(info.end) +
               "] out of range: the data buffer has " + std::to_string(data_size) + " bytes");
    const uint64_t want = checked_numel(info.shape, path, name) * static_cast<uint64_t>(elem);
    if (info.end - info.begin != want)
      fail(path, name,
           "data_offsets span " + std::to_string(info.end - info.begin) + " bytes but " + info.dtype + " " +
               shape_text(info.shape) + " needs " + std::to_string(want));
    tensors_[name] = std::move(info);
  }
}

SafeTensor SafeTensorReader::read(const std::string& name) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) fail(path_, name, "no such tensor");
  const SafeTensorInfo& info = it->second;
  if (!readable_dtype(info.dtype))
    fail(path_, name, "dtype " + info.dtype + " cannot be read as floats (F32, F16, BF16, F64)");
  std::ifstream in(path_, std::ios::binary);
  if (!in) fail(path_, name, "cannot open");
  std::vector<char> buf(info.end - info.begin);
  in.seekg(static_cast<std::streamoff>(data_start_ + info.begin));
  in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
  if (!in) fail(path_, name, "cannot read its data (file truncated?)");
  SafeTensor t;
  t.dtype = info.dtype;
  t.shape = info.shape;
  const size_t n = buf.size() / safetensors_dtype_size(info.dtype);
  t.values.resize(n);
  for (size_t i = 0; i < n; ++i) {
    if (info.dtype == "F32") {
      std::memcpy(&t.values[i], &buf[4 * i], 4);
    } else if (info.dtype == "F64") {
      double d;
      std::memcpy(&d, &buf[8 * i], 8);
      t.values[i] = static_cast<float>(d);
    } else {
      uint16_t h;
      std::memcpy(&h, &buf[2 * i], 2);
      t.values[i] = info.dtype == "BF16" ? bf16_to_float(h) : f16_to_float(h);
    }
  }
  return t;
}

void SafeTensorReader::read_raw(const std::string& name, void* dst, uint64_t bytes) const {
  const auto it = tensors_.find(name);
  if (it == tensors_.end()) fail(path_, name, "no such tensor");
  const SafeTensorInfo& info = it->second;
  if (info.end - info.begin != bytes)
    fail(path_, name, "holds " + std::to_string(info.end - info.begin) + " bytes, the reader expected " +
                          std::to_string(bytes));
  std::ifstream in(path_, std::ios::binary);
  if (!in) fail(path_, name, "cannot open");
  in.seekg(static_cast<std::streamoff>(data_start_ + info.begin));
  in.read(static_cast<char*>(dst), static_cast<std::streamsize>(bytes));
  if (!in) fail(path_, name, "cannot read its data (file truncated?)");
}

SafeTensorFile read_safetensors(const std::string& path) {
  const SafeTensorReader reader(path);
  SafeTensorFile file;
  file.metadata = reader.metadata();
  for (const auto& [name, info] : reader.tensors()) file.tensors[name] = reader.read(name);
  return file;
}

}  // namespace hetero
