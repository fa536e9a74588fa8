// The typed reader of one recipe map (recipe_sections.cpp): every value read
// through it is type-checked, and every key it was never asked for is an
// unknown key. Internal to hetero_common.
#pragma once

#include <cstdint>
#include <regex>
#include <type_traits>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "hetero/errors.h"

namespace hetero::detail {

// Reads typed values from one YAML map, recording type errors and, at the
// end, every key it was never asked for (an unknown key).
class MapReader {
 public:
  MapReader(YAML::Node node, std::string path, ProblemList& problems)
      : node_(std::move(node)), path_(std::move(path)), problems_(problems) {
    if (node_ && !node_.IsNull() && !node_.IsMap()) {
      problems_.add("recipe key '" + path_ + "' must be a map of keys");
      node_ = YAML::Node(YAML::NodeType::Map);
    }
  }
  ~MapReader() noexcept(false) {}

  template <typename T>
  T get(const std::string& key, const T& fallback, bool required, const char* type_name) {
    asked_.insert(key);
    if (!node_ || !node_[key]) {
      if (required) problems_.add("recipe key '" + full(key) + "' is missing (" + type_name + " required)");
      return fallback;
    }
    const YAML::Node value = node_[key];
    // An empty value (`key:`, `key: ~`, --set key=) is not "unset": say so
    // instead of taking a default the user did not choose.
    if (value.IsNull()) {
      problems_.add("recipe key '" + full(key) + "' has no value; give " + type_name +
                    (required ? "" : ", or remove the key to take its default"));
      return fallback;
    }
    if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
      if (!value.IsScalar() || !number_text_ok(value.Scalar(), std::is_integral_v<T>)) {
        problems_.add("recipe key '" + full(key) + "': expected " + type_name + ", got '" + scalar_text(value) + "'" +
                      number_hint(value));
        return fallback;
      }
    }
    try {
      return value.template as<T>();
    } catch (const YAML::Exception&) {
      problems_.add("recipe key '" + full(key) + "': expected " + type_name + ", got '" + scalar_text(value) + "'");
      return fallback;
    }
  }
  int req_int(const std::string& k) { return get<int>(k, 0, true, "an integer"); }
  int opt_int(const std::string& k, int d) { return get<int>(k, d, false, "an integer"); }
  double req_double(const std::string& k) { return get<double>(k, 0.0, true, "a number"); }
  double opt_double(const std::string& k, double d) { return get<double>(k, d, false, "a number"); }
  std::string req_string(const std::string& k) { return get<std::string>(k, "", true, "a string"); }
  std::string opt_string(const std::string& k, const std::string& d) {
    return get<std::string>(k, d, false, "a string");
  }
  std::uint64_t req_u64(const std::string& k) {
    return get<std::uint64_t>(k, 0, true, "a non-negative integer");
  }
  std::int64_t opt_i64(const std::string& k, std::int64_t d) {
    return get<std::int64_t>(k, d, false, "an integer");
  }
  bool opt_bool(const std::string& k, bool d) { return get<bool>(k, d, false, "true or false"); }
  // A list of numbers; empty when the key is absent.
  std::vector<double> opt_double_list(const std::string& k) {
    asked_.insert(k);
    std::vector<double> out;
    if (!node_ || !node_[k] || node_[k].IsNull()) return out;
    const YAML::Node list = node_[k];
    if (!list.IsSequence()) {
      problems_.add("recipe key '" + full(k) + "': expected a list of numbers, e.g. [0.5, 0.5, 0.5], got '" +
                    scalar_text(list) + "'");
      return out;
    }
    for (const auto& v : list) {
      try {
        if (!v.IsScalar() || !number_text_ok(v.Scalar(), false)) throw YAML::Exception(YAML::Mark(), "not a number");
        out.push_back(v.as<double>());
      } catch (const YAML::Exception&) {
        problems_.add("recipe key '" + full(k) + "': expected a list of numbers, but it holds '" + scalar_text(v) +
                      "'");
        return {};
      }
    }
    return out;
  }
  bool has(const std::string& k) const { return node_ && node_[k] && !node_[k].IsNull(); }
  // The node under `key` (marked as known), for lists and free-form maps.
  YAML::Node raw(const std::string& key) {
    asked_.insert(key);
    return node_ && node_[key] ? node_[key] : YAML::Node();
  }
  std::string full_key(const std::string& key) const { return full(key); }
  ProblemList& problems() { return problems_; }
  void problem(const std::string& key, const std::string& rule) {
    problems_.add("recipe key '" + full(key) + "' " + rule);
  }

  MapReader child(const std::string& key) {
    asked_.insert(key);
    return MapReader(node_ ? node_[key] : YAML::Node(), full(key), problems_);
  }
  std::vector<std::string> keys() const {
    std::vector<std::string> out;
    if (node_ && node_.IsMap())
      for (const auto& kv : node_) out.push_back(kv.first.as<std::string>());
    return out;
  }
  void mark_asked(const std::string& key) { asked_.insert(key); }

  // Reports keys present in the map that no reader asked for.
  void finish() {
    if (!node_ || !node_.IsMap()) return;
    for (const auto& kv : node_) {
      auto key = kv.first.as<std::string>();
      if (!asked_.count(key)) {
        std::string known;
        for (const auto& k : asked_) known += (known.empty() ? "" : ", ") + k;
        problems_.add("unknown recipe key '" + full(key) + "' (known keys here: " + known + ")");
      }
    }
  }

 private:
  // Plain decimal numbers only: YAML 1.1 readers take 010 as octal and 0x2
  // as hex, which nobody means in a recipe; .inf and .nan are no sizes or rates.
  static bool number_text_ok(const std::string& text, bool integral) {
    static const std::regex int_re(R"(^[-+]?(0|[1-9][0-9]*)$)");
    static const std::regex real_re(R"(^[-+]?((0|[1-9][0-9]*)(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$)");
    return std::regex_match(text, integral ? int_re : real_re);
  }
  static std::string number_hint(const YAML::Node& n) {
    if (!n.IsScalar()) return "";
    static const std::regex leading_zero(R"(^[-+]?0[0-9]+$)");
    static const std::regex prefixed(R"(^[-+]?0[xXoObB])");
    if (std::regex_match(n.Scalar(), leading_zero))
      return " (a leading zero: some YAML readers take it as octal); write the number without leading zeros";
    if (std::regex_search(n.Scalar(), prefixed)) return " (hex, octal and binary prefixes are not accepted); write it in decimal";
    return "";
  }
  std::string full(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  static std::string scalar_text(const YAML::Node& n) {
    if (n.IsScalar()) return n.Scalar();
    std::ostringstream os;
    os << n;
    return os.str();
  }

  YAML::Node node_;
  std::string path_;
  ProblemList& problems_;
  std::set<std::string> asked_;
};

}  // namespace hetero::detail
