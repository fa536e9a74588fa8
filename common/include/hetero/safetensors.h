// The safetensors format (https://github.com/huggingface/safetensors), torch-free:
//   8 bytes   little-endian u64 N, the header length
//   N bytes   JSON: {"<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
//                    "__metadata__": {"key": "value", ...}}   (metadata optional, strings only)
//   rest      the data buffer; offsets are relative to its start, values little-endian.
// Used for embedding dumps (RunPaths::embeddings_file) and weights.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace hetero {

// A tensor as floats, whatever its stored dtype. `values` is row-major,
// shape's product elements long.
struct SafeTensor {
  std::string dtype = "F32";  // on write: F32 (default), F16, BF16 or F64; on read: the stored dtype
  std::vector<int64_t> shape;
  std::vector<float> values;
};

struct SafeTensorFile {
  std::map<std::string, SafeTensor> tensors;
  std::map<std::string, std::string> metadata;
};

// Every reader/writer failure: the message names the file, the tensor when
// there is one, and the reason.
class SafeTensorsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Writes `tensors` (each in its `dtype`, F32 unless set; F16/BF16 round to
// nearest even) and the metadata. Throws SafeTensorsError when a shape does
// not match its values or the file cannot be written.
void write_safetensors(const std::string& path, const std::map<std::string, SafeTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// Reads a whole file; F32, F16, BF16 and F64 are converted to float.
SafeTensorFile read_safetensors(const std::string& path);

// A tensor of any dtype as the bytes to store (row-major, little-endian),
// for files whose values must survive exactly (checkpoints: fp32 weights and
// moments, int64 counters). `data` must stay valid during the write.
struct RawTensor {
  std::string name;
  std::string dtype;  // any of safetensors_dtype_size's
  std::vector<int64_t> shape;
  const void* data = nullptr;
  uint64_t bytes = 0;  // must equal numel(shape) x the dtype's size
};

// Writes `tensors` in order with POSIX calls and, with `durable`, fsyncs the
// file before returning. Throws SafeTensorsError naming the path and the
// system's reason (e.g. "No space left on device").
void write_safetensors_raw(const std::string& path, const std::vector<RawTensor>& tensors,
                           const std::map<std::string, std::string>& metadata = {}, bool durable = true);

// Where one tensor lies in a file, from the header alone.
struct SafeTensorInfo {
  std::string dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // data_offsets, relative to the data buffer
  int64_t numel() const;
};

// Reads the header once (validating every entry against the file size) and
// then single tensors on demand, so large dumps are compared one tensor at a
// time.
class SafeTensorReader {
 public:
  explicit SafeTensorReader(const std::string& path);
  const std::string& path() const { return path_; }
  const std::map<std::string, SafeTensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool has(const std::string& name) const { return tensors_.count(name) > 0; }
  SafeTensor read(const std::string& name) const;
  // The stored bytes of `name` into `dst`, which holds exactly its size.
  void read_raw(const std::string& name, void* dst, uint64_t bytes) const;

 private:
  std::string path_;
  uint64_t data_start_ = 0;
  std::map<std::string, SafeTensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Bytes per element of a safetensors dtype (BOOL, U8, I8, F8_E5M2, F8_E4M3,
// I16, U16, F16, BF16, I32, U32, F32, I64, U64, F64); 0 for any other string.
// Only F32, F16, BF16 and F64 can be read as floats.
int safetensors_dtype_size(const std::string& dtype);

}  // namespace hetero
