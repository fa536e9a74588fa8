#include "hetero/trace.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <vector>

#include <nlohmann/json.hpp>

namespace hetero {

std::int64_t trace_clock_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          static const char* hex = "0123456789abcdef";
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

}  // namespace

// ---- Writing -------------------------------------------------------------

TraceWriter::TraceWriter(const std::string& path, const TraceRankInfo& info, int flush_every)
    : out_(path + ".partial", std::ios::trunc | std::ios::binary),
      path_(path),
      pid_(std::to_string(info.rank)),
      flush_every_(flush_every > 0 ? flush_every : 1) {
  if (!out_) throw std::runtime_error("cannot open trace file " + path + ".partial: " + std::strerror(errno));
  const bool encoder = info.module == "encoder";
  const std::string label = "rank " + pid_ + " " + info.module + (encoder ? " replica " : " lane ") +
                            std::to_string(info.replica) + " stage " + std::to_string(info.stage) +
                            (info.tp_rank ? " tp " + std::to_string(info.tp_rank) : "");
  buffer_ += "[\n{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":" + pid_ + ",\"tid\":0,\"args\":{\"name\":";
  append_json_string(buffer_, label);
  buffer_ += "}},\n{\"name\":\"hetero_rank\",\"ph\":\"M\",\"pid\":" + pid_ + ",\"tid\":0,\"args\":{\"module\":";
  append_json_string(buffer_, info.module);
  buffer_ += ",\"replica\":" + std::to_string(info.replica) + ",\"stage\":" + std::to_string(info.stage) +
             ",\"tp_rank\":" + std::to_string(info.tp_rank) + "}},\n";
  flush();  // the header is on disk before the first event
  // Only a trace that could be started replaces an earlier one (a full disk
  // leaves that one whole); the stream goes on writing the renamed file.
  if (std::rename((path + ".partial").c_str(), path.c_str()) != 0)
    throw std::runtime_error("cannot rename " + path + ".partial to " + path + ": " + std::strerror(errno));
}

TraceWriter::~TraceWriter() {
  try {
    close();
  } catch (...) {
  }
}

void TraceWriter::region(const char* name, std::int64_t start_us, std::int64_t dur_us, int iter, int microbatch) {
  if (closed_) return;
  buffer_ += "{\"name\":";
  append_json_string(buffer_, name);
  buffer_ += ",\"ph\":\"X\",\"ts\":";
  buffer_ += std::to_string(start_us);
  buffer_ += ",\"dur\":";
  buffer_ += std::to_string(dur_us);
  buffer_ += ",\"pid\":";
  buffer_ += pid_;
  buffer_ += ",\"tid\":0,\"args\":{\"iter\":";
  buffer_ += std::to_string(iter);
  if (microbatch >= 0) {
    buffer_ += ",\"microbatch\":";
    buffer_ += std::to_string(microbatch);
  }
  buffer_ += "}},\n";
  if (++pending_ >= flush_every_) flush();
}

void TraceWriter::write_buffer() {
  out_.write(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
  buffer_.clear();
  pending_ = 0;
}

void TraceWriter::flush() {
  if (closed_) return;
  write_buffer();
  out_.flush();
  if (!out_) throw std::runtime_error("cannot write trace file " + path_ + ": " + std::strerror(errno));
}

void TraceWriter::close() {
  if (closed_) return;
  // A last metadata event makes the trailing comma legal JSON.
  buffer_ += "{\"name\":\"trace_end\",\"ph\":\"M\",\"pid\":" + pid_ + ",\"tid\":0,\"args\":{}}\n]\n";
  write_buffer();
  out_.flush();
  closed_ = true;
  const bool ok = static_cast<bool>(out_);
  out_.close();
  if (!ok) throw std::runtime_error("cannot write trace file " + path_ + ": " + std::strerror(errno));
}

// ---- Reading: one event per line ------------------------------------------

namespace {

struct Cursor {
  const char* p;
  const char* e;
};

void skip_ws(Cursor& c) {
  while (c.p < c.e && (*c.p == ' ' || *c.p == '\t' || *c.p == '\r' || *c.p == '\n')) ++c.p;
}

bool eat(Cursor& c, char ch) {
  skip_ws(c);
  if (c.p < c.e && *c.p == ch) {
    ++c.p;
    return true;
  }
  return false;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool hex4(const char*& p, const char* e, std::uint32_t& v) {
  if (e - p < 4) return false;
  v = 0;
  for (int i = 0; i < 4; ++i, ++p) {
    const char h = *p;
    v <<= 4;
    if (h >= '0' && h <= '9') v |= h - '0';
    else if (h >= 'a' && h <= 'f') v |= h - 'a' + 10;
    else if (h >= 'A' && h <= 'F') v |= h - 'A' + 10;
    else return false;
  }
  return true;
}

bool unescape(std::string_view raw, std::string& out) {
  out.clear();
  const char* p = raw.data();
  const char* e = p + raw.size();
  while (p < e) {
    if (*p != '\\') {
      out += *p++;
      continue;
    }
    if (++p >= e) return false;
    const char k = *p++;
    switch (k) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '/': out += '/'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        std::uint32_t cp;
        if (!hex4(p, e, cp)) return false;
        if (cp >= 0xD800 && cp < 0xDC00 && e - p >= 6 && p[0] == '\\' && p[1] == 'u') {
          p += 2;
          std::uint32_t lo;
          if (!hex4(p, e, lo)) return false;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        append_utf8(out, cp);
        break;
      }
      default: return false;
    }
  }
  return true;
}

// A JSON string; `out` views the line when it has no escapes, else `scratch`.
bool parse_string(Cursor& c, std::string_view& out, std::string* scratch) {
  skip_ws(c);
  if (c.p >= c.e || *c.p != '"') return false;
  const char* s = ++c.p;
  bool escaped = false;
  while (c.p < c.e && *c.p != '"') {
    if (*c.p == '\\') {
      escaped = true;
      if (++c.p >= c.e) return false;
    }
    ++c.p;
  }
  if (c.p >= c.e) return false;
  out = std::string_view(s, static_cast<std::size_t>(c.p - s));
  ++c.p;
  if (escaped && scratch) {
    if (!unescape(out, *scratch)) return false;
    out = *scratch;
  }
  return true;
}

// A JSON number, kept as text so microseconds convert to ns exactly.
struct Number {
  std::string_view text;
  bool negative = false, fraction = false, exponent = false;
  std::string_view int_digits, frac_digits;
};

bool parse_number(Cursor& c, Number& n) {
  skip_ws(c);
  const char* s = c.p;
  if (c.p < c.e && *c.p == '-') {
    n.negative = true;
    ++c.p;
  }
  const char* d = c.p;
  while (c.p < c.e && *c.p >= '0' && *c.p <= '9') ++c.p;
  if (c.p == d) return false;
  n.int_digits = std::string_view(d, static_cast<std::size_t>(c.p - d));
  if (c.p < c.e && *c.p == '.') {
    const char* f = ++c.p;
    while (c.p < c.e && *c.p >= '0' && *c.p <= '9') ++c.p;
    if (c.p == f) return false;
    n.fraction = true;
    n.frac_digits = std::string_view(f, static_cast<std::size_t>(c.p - f));
  }
  if (c.p < c.e && (*c.p == 'e' || *c.p == 'E')) {
    ++c.p;
    if (c.p < c.e && (*c.p == '+' || *c.p == '-')) ++c.p;
    const char* x = c.p;
    while (c.p < c.e && *c.p >= '0' && *c.p <= '9') ++c.p;
    if (c.p == x) return false;
    n.exponent = true;
  }
  n.text = std::string_view(s, static_cast<std::size_t>(c.p - s));
  return true;
}

double number_as_double(const Number& n) { return std::strtod(std::string(n.text).c_str(), nullptr); }

std::int64_t number_as_int(const Number& n) {
  if (n.exponent || n.int_digits.size() > 18) return static_cast<std::int64_t>(number_as_double(n));
  std::int64_t v = 0;
  for (char ch : n.int_digits) v = v * 10 + (ch - '0');
  return n.negative ? -v : v;
}

// Microseconds (Chrome's unit) to nanoseconds, exact for up to three
// fractional digits and rounded half away from zero beyond them.
std::int64_t number_us_to_ns(const Number& n) {
  constexpr std::uint64_t kMaxUs = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / 1000 - 1;
  std::uint64_t u = 0;
  bool exact = !n.exponent && n.int_digits.size() <= 19;
  for (char ch : n.int_digits) u = u * 10 + static_cast<std::uint64_t>(ch - '0');
  if (!exact || u > kMaxUs) return std::llround(number_as_double(n) * 1000.0);
  std::int64_t v = static_cast<std::int64_t>(u) * 1000;
  std::int64_t frac = 0;
  for (std::size_t i = 0; i < 3; ++i) frac = frac * 10 + (i < n.frac_digits.size() ? n.frac_digits[i] - '0' : 0);
  if (n.frac_digits.size() > 3 && n.frac_digits[3] >= '5') ++frac;
  v += frac;
  return n.negative ? -v : v;
}

bool skip_value(Cursor& c, int depth = 0);

bool skip_container(Cursor& c, char close, bool object, int depth) {
  if (eat(c, close)) return true;
  while (true) {
    if (object) {
      std::string_view key;
      if (!parse_string(c, key, nullptr) || !eat(c, ':')) return false;
    }
    if (!skip_value(c, depth + 1)) return false;
    if (eat(c, ',')) continue;
    return eat(c, close);
  }
}

bool skip_value(Cursor& c, int depth) {
  if (depth > 64) return false;
  skip_ws(c);
  if (c.p >= c.e) return false;
  const char ch = *c.p;
  if (ch == '"') {
    std::string_view s;
    return parse_string(c, s, nullptr);
  }
  if (ch == '{') {
    ++c.p;
    return skip_container(c, '}', true, depth);
  }
  if (ch == '[') {
    ++c.p;
    return skip_container(c, ']', false, depth);
  }
  for (std::string_view word : {std::string_view("true"), std::string_view("false"), std::string_view("null")}) {
    if (static_cast<std::size_t>(c.e - c.p) >= word.size() && std::string_view(c.p, word.size()) == word) {
      c.p += word.size();
      return true;
    }
  }
  Number n;
  return parse_number(c, n);
}

struct ParsedArgs {
  std::int64_t iter = -1, microbatch = -1, replica = 0, stage = 0, tp_rank = 0;
  std::string_view module;
  bool has_module = false;
};

bool parse_int_field(Cursor& c, std::int64_t& out) {
  skip_ws(c);
  Number n;
  Cursor save = c;
  if (parse_number(c, n)) {
    out = number_as_int(n);
    return true;
  }
  c = save;
  return skip_value(c);  // not a number (e.g. null): left as it was
}

bool parse_args(Cursor& c, ParsedArgs& a, std::string& module_scratch) {
  if (!eat(c, '{')) return skip_value(c);
  if (eat(c, '}')) return true;
  while (true) {
    std::string_view key;
    if (!parse_string(c, key, nullptr) || !eat(c, ':')) return false;
    bool ok;
    if (key == "iter") ok = parse_int_field(c, a.iter);
    else if (key == "microbatch") ok = parse_int_field(c, a.microbatch);
    else if (key == "replica") ok = parse_int_field(c, a.replica);
    else if (key == "stage") ok = parse_int_field(c, a.stage);
    else if (key == "tp_rank") ok = parse_int_field(c, a.tp_rank);
    else if (key == "module") {
      skip_ws(c);
      if (c.p < c.e && *c.p == '"') {
        ok = parse_string(c, a.module, &module_scratch);
        a.has_module = ok;
      } else {
        ok = skip_value(c);
      }
    } else ok = skip_value(c);
    if (!ok) return false;
    if (eat(c, ',')) continue;
    return eat(c, '}');
  }
}

}  // namespace

char parse_trace_line(std::string_view line, TraceEvent& event, TraceRankInfo& rank, std::string& scratch) {
  // Trim, then drop the separator comma the array format puts after events.
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r' || line.back() == '\n'))
    line.remove_suffix(1);
  if (!line.empty() && line.back() == ',') line.remove_suffix(1);
  Cursor c{line.data(), line.data() + line.size()};
  if (!eat(c, '{')) return 0;
  std::string_view name, ph;
  Number ts, dur;
  bool has_name = false, has_ts = false, has_dur = false;
  std::int64_t pid = -1;
  ParsedArgs args;
  std::string module_scratch;
  if (!eat(c, '}')) {
    while (true) {
      std::string_view key;
      if (!parse_string(c, key, nullptr) || !eat(c, ':')) return 0;
      bool ok;
      skip_ws(c);
      const bool is_string = c.p < c.e && *c.p == '"';
      if (key == "name" && is_string) {
        ok = parse_string(c, name, &scratch);
        has_name = ok;
      } else if (key == "ph" && is_string) {
        ok = parse_string(c, ph, nullptr);
      } else if (key == "ts" && !is_string) {
        ok = has_ts = parse_number(c, ts);
      } else if (key == "dur" && !is_string) {
        ok = has_dur = parse_number(c, dur);
      } else if (key == "pid") {
        ok = parse_int_field(c, pid);
      } else if (key == "args") {
        ok = parse_args(c, args, module_scratch);
      } else {
        ok = skip_value(c);
      }
      if (!ok) return 0;
      if (eat(c, ',')) continue;
      if (!eat(c, '}')) return 0;
      break;
    }
  }
  skip_ws(c);
  if (c.p != c.e) return 0;
  if (ph == "X" && has_name && has_ts) {
    event.name = name;
    event.pid = static_cast<int>(pid);
    event.ts_ns = number_us_to_ns(ts);
    event.dur_ns = has_dur ? number_us_to_ns(dur) : 0;
    event.iter = static_cast<int>(args.iter);
    event.microbatch = static_cast<int>(args.microbatch);
    return 'X';
  }
  if (ph == "M" && has_name && name == "hetero_rank") {
    rank.rank = static_cast<int>(pid);
    rank.module = args.has_module ? std::string(args.module) : std::string();
    rank.replica = static_cast<int>(args.replica);
    rank.stage = static_cast<int>(args.stage);
    rank.tp_rank = static_cast<int>(args.tp_rank);
    return 'R';
  }
  return 'O';
}

namespace {

std::int64_t json_us_to_ns(const nlohmann::json& v) {
  if (v.is_number_integer()) return v.get<std::int64_t>() * 1000;
  if (v.is_number()) return std::llround(v.get<double>() * 1000.0);
  return 0;
}

int json_int(const nlohmann::json& obj, const char* key, int fallback) {
  const auto it = obj.find(key);
  return it != obj.end() && it->is_number() ? it->get<int>() : fallback;
}

// Any other Chrome trace JSON: an array of events or {"traceEvents": [...]},
// streamed by nlohmann::json, each event discarded once delivered.
TraceReadStats read_whole_json(const std::string& path, TraceVisitor& visitor) {
  TraceReadStats stats;
  stats.line_format = false;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open trace file " + path);
  bool top_is_array = false;
  std::string top_key;
  using json = nlohmann::json;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t ev, json& parsed) -> bool {
    if (depth == 0 && ev == json::parse_event_t::array_start) top_is_array = true;
    if (depth == 1 && ev == json::parse_event_t::key) top_key = parsed.get<std::string>();
    if (ev != json::parse_event_t::object_end) return true;
    const bool element = top_is_array ? depth == 1 : (depth == 2 && top_key == "traceEvents");
    if (!element) return true;
    if (parsed.is_object()) {
      const std::string ph = parsed.value("ph", "");
      const std::string name = parsed.contains("name") && parsed["name"].is_string() ? parsed["name"].get<std::string>() : "";
      const json args = parsed.contains("args") && parsed["args"].is_object() ? parsed["args"] : json::object();
      if (ph == "X" && !name.empty() && parsed.contains("ts")) {
        TraceEvent e;
        e.name = name;
        e.pid = json_int(parsed, "pid", -1);
        e.ts_ns = json_us_to_ns(parsed["ts"]);
        e.dur_ns = parsed.contains("dur") ? json_us_to_ns(parsed["dur"]) : 0;
        e.iter = json_int(args, "iter", -1);
        e.microbatch = json_int(args, "microbatch", -1);
        ++stats.events;
        visitor.on_event(e);
      } else if (ph == "M" && name == "hetero_rank") {
        TraceRankInfo r;
        r.rank = json_int(parsed, "pid", -1);
        r.module = args.contains("module") && args["module"].is_string() ? args["module"].get<std::string>() : "";
        r.replica = json_int(args, "replica", 0);
        r.stage = json_int(args, "stage", 0);
        r.tp_rank = json_int(args, "tp_rank", 0);
        visitor.on_rank(r);
      }
    }
    return false;  // discard: nothing accumulates
  };
  try {
    const json discarded = json::parse(in, cb, /*allow_exceptions=*/true, /*ignore_comments=*/false);
    (void)discarded;
    stats.closed = true;
  } catch (const json::parse_error&) {
    stats.bad_lines = 1;  // a truncated file: what was read before the tear is kept
  }
  return stats;
}

// TraceWriter's form: a line holding only "[", then events one per line. The
// first line after "[" tells it from a pretty-printed array, whose elements
// span lines: it must open an object and close it ("}" or "},"), or be the
// torn last line of a crashed writer.
bool is_line_format(std::ifstream& in) {
  std::string line;
  auto trimmed = [](std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r')) v.remove_suffix(1);
    return v;
  };
  bool opened = false;
  while (std::getline(in, line)) {
    const std::string_view v = trimmed(line);
    if (v.empty()) continue;
    if (!opened) {
      if (v != "[") return false;
      opened = true;
      continue;
    }
    if (v.front() != '{') return v == "]";
    return v.back() == '}' || (v.size() > 1 && v.substr(v.size() - 2) == "},") || in.eof();
  }
  return true;  // empty, or "[" alone: nothing to read either way
}

}  // namespace

TraceReadStats read_trace_file(const std::string& path, TraceVisitor& visitor, std::uint64_t begin,
                               std::uint64_t end) {
  std::vector<char> buffer(1 << 20);
  std::ifstream in;
  in.rdbuf()->pubsetbuf(buffer.data(), static_cast<std::streamsize>(buffer.size()));
  in.open(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open trace file " + path);
  if (begin == 0 && !is_line_format(in)) {
    in.close();
    return read_whole_json(path, visitor);
  }
  TraceReadStats stats;
  in.clear();
  in.seekg(static_cast<std::streamoff>(begin));
  std::uint64_t offset = begin;
  std::string line, scratch;
  TraceEvent e;
  TraceRankInfo rank;
  while (offset < end && std::getline(in, line)) {
    const std::uint64_t line_start = offset;
    offset += line.size() + 1;
    std::string_view view(line);
    while (!view.empty() && (view.front() == ' ' || view.front() == '\t')) view.remove_prefix(1);
    while (!view.empty() && (view.back() == ' ' || view.back() == '\t' || view.back() == '\r')) view.remove_suffix(1);
    if (view.empty() || view == "[") continue;
    if (view == "]") {
      stats.closed = true;
      continue;
    }
    const char kind = parse_trace_line(view, e, rank, scratch);
    if (kind == 'X') {
      e.offset = line_start;
      e.end_offset = offset;
      ++stats.events;
      visitor.on_event(e);
    } else if (kind == 'R') {
      visitor.on_rank(rank);
    } else if (kind == 0) {
      ++stats.bad_lines;
    }
  }
  return stats;
}

}  // namespace hetero
