// Helpers that synthesize run directories for the parity tests: metrics.jsonl
// through hetero::metrics_to_json, embedding dumps through the safetensors
// writer, rows rotated by a known angle, and the hetero-parity binary run as
// a process.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "../support/temp_dir.h"
#include "hetero/run_dir.h"
#include "hetero/safetensors.h"

namespace parity_test {

using hetero::test_support::TempDir;

hetero::IterationMetrics metrics(int iter, double loss, double grad_norm, double lr);
void write_text(const std::string& path, const std::string& text);
std::string read_text(const std::string& path);
// RUN/metrics.jsonl, one hetero::metrics_to_json line per record (creates RUN).
void write_metrics(const std::string& run_dir, const std::vector<hetero::IterationMetrics>& records);
// RUN/embeddings/iter-NNNNNN.safetensors with the dump's metadata.
void write_dump(const std::string& run_dir, int iter, const std::map<std::string, hetero::SafeTensor>& tensors);

// A [rows, cols] F32 tensor of deterministic, non-degenerate values.
hetero::SafeTensor pattern_tensor(int64_t rows, int64_t cols, int seed);
// `v` turned by `theta` radians within a plane that contains v, so that
// cos(v, result) == cos(theta) exactly in real arithmetic; the length is kept.
std::vector<float> rotate(const std::vector<float>& v, double theta);
// Row r of a 2-D tensor, and replacing it.
std::vector<float> row(const hetero::SafeTensor& t, int64_t r);
void set_row(hetero::SafeTensor& t, int64_t r, const std::vector<float>& v);

struct ProcessResult {
  int exit_code = -1;
  std::string out, err;
};
// Runs the hetero-parity binary with `args` (each shell-quoted).
ProcessResult run_parity(const std::vector<std::string>& args);

}  // namespace parity_test
