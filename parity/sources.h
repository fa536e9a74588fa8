// What hetero-parity compares: per-iteration metrics and embedding dumps,
// read from a run directory, a metrics.jsonl file or a Megatron-LM log.
#pragma once

#include <istream>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hetero::parity {

// A number as read. `resolution` is half a unit of the last printed digit
// ("12.345" -> 5e-4, "1.234567E+01" -> 5e-6); 0 for full-precision values
// (metrics.jsonl), so a printed value is never held to more digits than it has.
struct Value {
  double v = 0;
  double resolution = 0;
};

struct IterRecord {
  int iter = 0;
  std::optional<Value> lm_loss, grad_norm, lr;
  bool skipped = false;  // the optimizer step of this iteration was skipped
};

enum class SourceKind { kRunDir, kMetricsJsonl, kMegatronLog };
const char* source_kind_name(SourceKind kind);  // "run directory", "metrics.jsonl", "Megatron log"

struct Source {
  std::string path;
  SourceKind kind = SourceKind::kRunDir;
  std::map<int, IterRecord> iterations;
  std::map<int, std::string> embeddings;  // iteration -> RUN/embeddings/iter-NNNNNN.safetensors
  int train_iters = 0;                    // M of Megatron's "iteration N/ M" when known
  std::vector<std::string> notes;         // repeated iterations, ignored files, ...
};

// metrics.jsonl: one object per line with "iter"; "lm_loss", "grad_norm",
// "lr" when present (absent: no value; null: not finite, as JSON writers
// write NaN and infinity); an iteration is skipped when
// the cumulative "skipped" counter grows. A repeated iteration (a resumed
// run appends) keeps its last line. Throws ConfigError naming file and line.
Source parse_metrics_jsonl(std::istream& in, const std::string& name);

// Megatron-LM log: every line containing " iteration N/ M |" (any prefix:
// timestamps, rank tags), then "key: value |" fields in any order; extra
// fields are ignored. "lm loss", "grad norm", "learning rate" are read. A line
// without "lm loss" is a skipped iteration (Megatron leaves the loss out when
// the step was skipped). Throws ConfigError when no iteration line is found.
Source parse_megatron_log(std::istream& in, const std::string& name);

// Parses one Megatron iteration line; nullopt if `line` is not one.
std::optional<IterRecord> parse_megatron_line(const std::string& line, int* train_iters = nullptr);

// The resolution of a printed number (see Value).
double printed_resolution(const std::string& number);

// RUN/embeddings/iter-NNNNNN.safetensors files by iteration (empty if none).
std::map<int, std::string> list_embedding_dumps(const std::string& run_dir);

// A run directory (metrics.jsonl + embeddings/), or a file recognised by its
// content: a metrics.jsonl (first non-blank line is a JSON object) or a
// Megatron log. Throws ConfigError (value, rule, fix) otherwise.
Source load_source(const std::string& path);

}  // namespace hetero::parity
