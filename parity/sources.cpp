#include "sources.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "hetero/errors.h"
#include "hetero/run_dir.h"

namespace fs = std::filesystem;

namespace hetero::parity {
namespace {

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

bool blank(const std::string& s) { return s.find_first_not_of(" \t\r\n") == std::string::npos; }

// A whole-token number ("1.5E+00", "nan", "inf"), or nullopt.
std::optional<Value> parse_printed(const std::string& text) {
  const std::string t = trim(text);
  if (t.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size()) return std::nullopt;
  return Value{v, printed_resolution(t)};
}

// Absent: no value. null: a value that was not finite (JSON has no NaN or
// infinity, so nlohmann writes them as null).
std::optional<Value> json_number(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end()) return std::nullopt;
  if (it->is_null()) return Value{std::numeric_limits<double>::quiet_NaN(), 0.0};
  if (!it->is_number()) throw std::runtime_error(std::string("\"") + key + "\" is not a number");
  return Value{it->get<double>(), 0.0};
}

void note_repeats(Source& s, int repeats) {
  if (repeats > 0)
    s.notes.push_back(std::to_string(repeats) +
                      " iteration(s) appear more than once (a resumed run?); the last record of each is used");
}

}  // namespace

const char* source_kind_name(SourceKind kind) {
  switch (kind) {
    case SourceKind::kRunDir:
      return "run directory";
    case SourceKind::kMetricsJsonl:
      return "metrics.jsonl";
    case SourceKind::kMegatronLog:
      return "Megatron log";
  }
  return "?";
}

double printed_resolution(const std::string& number) {
  const std::string t = trim(number);
  size_t e = t.find_first_of("eE");
  const std::string mant = t.substr(0, e);
  int exp10 = 0;
  if (e != std::string::npos) exp10 = std::atoi(t.c_str() + e + 1);
  for (char c : mant)
    if (!std::isdigit(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '+') return 0;  // nan, inf
  const size_t dot = mant.find('.');
  const int decimals = dot == std::string::npos ? 0 : static_cast<int>(mant.size() - dot - 1);
  return 0.5 * std::pow(10.0, exp10 - decimals);
}

Source parse_metrics_jsonl(std::istream& in, const std::string& name) {
  Source s;
  s.path = name;
  s.kind = SourceKind::kMetricsJsonl;
  std::string line;
  int line_no = 0, repeats = 0;
  long long prev_skipped = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (blank(line)) continue;
    IterRecord r;
    try {
      const auto j = nlohmann::json::parse(line);
      if (!j.is_object()) throw std::runtime_error("not a JSON object");
      const auto it = j.find("iter");
      if (it == j.end() || !it->is_number_integer()) throw std::runtime_error("no integer \"iter\"");
      r.iter = it->get<int>();
      r.lm_loss = json_number(j, "lm_loss");
      r.grad_norm = json_number(j, "grad_norm");
      r.lr = json_number(j, "lr");
      const auto sk = j.find("skipped");
      if (sk != j.end() && sk->is_number()) {
        const long long now = sk->get<long long>();
        r.skipped = now > prev_skipped;
        prev_skipped = now;
      }
    } catch (const std::exception& e) {
      throw ConfigError(name + ":" + std::to_string(line_no) + ": not a metrics record (" + e.what() +
                        "); every line of metrics.jsonl must be a JSON object with an integer \"iter\"; fix or "
                        "remove that line");
    }
    if (s.iterations.count(r.iter)) ++repeats;
    s.iterations[r.iter] = r;
  }
  note_repeats(s, repeats);
  return s;
}

std::optional<IterRecord> parse_megatron_line(const std::string& line, int* train_iters) {
  size_t pos = 0;
  while ((pos = line.find("iteration", pos)) != std::string::npos) {
    const size_t start = pos;
    pos += 9;
    if (start > 0 && !std::isspace(static_cast<unsigned char>(line[start - 1])) && line[start - 1] != ']' &&
        line[start - 1] != ':' && line[start - 1] != '|')
      continue;
    size_t p = pos;
    auto skip_spaces = [&] {
      while (p < line.size() && (line[p] == ' ' || line[p] == '\t')) ++p;
    };
    auto digits = [&](long long* out) {
      const size_t b = p;
      while (p < line.size() && std::isdigit(static_cast<unsigned char>(line[p]))) ++p;
      if (p == b || p - b > 12) return false;
      *out = std::stoll(line.substr(b, p - b));
      return true;
    };
    long long n = 0, m = 0;
    if (p >= line.size() || !std::isspace(static_cast<unsigned char>(line[p]))) continue;
    skip_spaces();
    if (!digits(&n)) continue;
    skip_spaces();
    if (p >= line.size() || line[p] != '/') continue;
    ++p;
    skip_spaces();
    if (!digits(&m)) continue;
    skip_spaces();
    if (p >= line.size() || line[p] != '|') continue;

    IterRecord r;
    r.iter = static_cast<int>(n);
    if (train_iters) *train_iters = static_cast<int>(m);
    size_t field_start = p + 1;
    while (field_start < line.size()) {
      size_t bar = line.find('|', field_start);
      if (bar == std::string::npos) bar = line.size();
      const std::string field = line.substr(field_start, bar - field_start);
      field_start = bar + 1;
      const size_t colon = field.rfind(':');
      if (colon == std::string::npos) continue;
      const std::string key = trim(field.substr(0, colon));
      const auto value = parse_printed(field.substr(colon + 1));
      if (!value) continue;
      if (key == "lm loss")
        r.lm_loss = value;
      else if (key == "grad norm")
        r.grad_norm = value;
      else if (key == "learning rate")
        r.lr = value;
    }
    r.skipped = !r.lm_loss.has_value();
    return r;
  }
  return std::nullopt;
}

Source parse_megatron_log(std::istream& in, const std::string& name) {
  Source s;
  s.path = name;
  s.kind = SourceKind::kMegatronLog;
  std::string line;
  int repeats = 0;
  while (std::getline(in, line)) {
    int m = 0;
    auto r = parse_megatron_line(line, &m);
    if (!r) continue;
    if (m > 0) s.train_iters = m;
    if (s.iterations.count(r->iter)) ++repeats;
    s.iterations[r->iter] = *r;
  }
  if (s.iterations.empty())
    throw ConfigError(name +
                      " has no Megatron iteration line (' iteration N/ M | ... | lm loss: X |'); pass a run "
                      "directory, a metrics.jsonl or a Megatron-LM training log");
  note_repeats(s, repeats);
  return s;
}

std::map<int, std::string> list_embedding_dumps(const std::string& run_dir) {
  std::map<int, std::string> out;
  const std::string dir = RunPaths{run_dir}.embeddings_dir();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const std::string prefix = "iter-", suffix = ".safetensors";
    if (name.size() <= prefix.size() + suffix.size() || name.compare(0, prefix.size(), prefix) != 0 ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    const std::string num = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
    if (num.empty() || num.size() > 9 || num.find_first_not_of("0123456789") != std::string::npos) continue;
    out[std::stoi(num)] = entry.path().string();
  }
  return out;
}

Source load_source(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const std::string metrics = RunPaths{path}.metrics();
    std::ifstream in(metrics);
    if (!in)
      throw ConfigError(path +
                        " is a directory without metrics.jsonl; a run directory holds RUN/metrics.jsonl from "
                        "hetero-train: check the path, or that the job got to its first iteration");
    Source s = parse_metrics_jsonl(in, metrics);
    s.path = path;
    s.kind = SourceKind::kRunDir;
    s.embeddings = list_embedding_dumps(path);
    return s;
  }
  std::ifstream in(path);
  if (!in)
    throw ConfigError(path +
                      " does not exist or cannot be read; pass a run directory, a metrics.jsonl or a "
                      "Megatron log");
  std::string line;
  while (std::getline(in, line) && blank(line)) {
  }
  const bool json = !blank(line) && trim(line)[0] == '{';
  in.clear();
  in.seekg(0);
  if (json) return parse_metrics_jsonl(in, path);
  return parse_megatron_log(in, path);
}

}  // namespace hetero::parity
