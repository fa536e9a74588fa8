#include "data/webdataset.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "data/dataset.h"

namespace fs = std::filesystem;

namespace hetero {
namespace {

const char* kReindex = "delete it and run `hetero-data index DIR` to rebuild it";

std::uint64_t octal(const char* p, size_t n) {
  std::uint64_t v = 0;
  for (size_t i = 0; i < n && p[i]; ++i) {
    if (p[i] == ' ') continue;
    if (p[i] < '0' || p[i] > '7') break;
    v = v * 8 + static_cast<std::uint64_t>(p[i] - '0');
  }
  return v;
}

std::string cstr(const char* p, size_t n) { return std::string(p, strnlen(p, n)); }

void split_key(const std::string& name, std::string* key, std::string* ext) {
  const size_t slash = name.rfind('/');
  const size_t base = slash == std::string::npos ? 0 : slash + 1;
  const size_t dot = name.find('.', base);
  *key = dot == std::string::npos ? name : name.substr(0, dot);
  *ext = dot == std::string::npos ? "" : name.substr(dot + 1);
}

// "a_{000..003}.tar" -> a_000.tar ... a_003.tar (zero padding kept).
std::vector<std::string> expand_braces(const std::string& s) {
  static const std::regex range(R"(\{(\d+)\.\.(\d+)\})");
  std::smatch m;
  if (!std::regex_search(s, m, range)) return {s};
  const std::string lo = m[1], hi = m[2];
  std::vector<std::string> out;
  for (long v = std::stol(lo); v <= std::stol(hi); ++v) {
    std::string n = std::to_string(v);
    if (n.size() < lo.size()) n = std::string(lo.size() - n.size(), '0') + n;
    for (auto& rest : expand_braces(m.suffix().str())) out.push_back(m.prefix().str() + n + rest);
  }
  return out;
}

YAML::Node load_split_yaml(const std::string& dir) {
  const std::string path = dir + "/.nv-meta/split.yaml";
  if (!fs::exists(path))
    throw DataError(path + ": missing; an Energon dataset folder has .nv-meta/split.yaml listing its shards "
                    "(split_parts: {train: [shard_000.tar, ...]}); write it or run `energon prepare DIR`");
  try {
    return YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    throw DataError(path + ": not valid YAML (" + e.what() + "); fix the file");
  }
}

std::vector<std::string> shards_of(const YAML::Node& list, const std::string& where) {
  std::vector<std::string> out;
  if (!list.IsSequence()) throw DataError(where + " must be a list of shard paths");
  for (const auto& n : list)
    for (auto& s : expand_braces(n.as<std::string>())) out.push_back(s);
  return out;
}

// Sample counts per shard from .info.json or .info.yaml; empty if neither exists.
std::map<std::string, std::uint64_t> read_counts(const std::string& dir) {
  std::map<std::string, std::uint64_t> out;
  const std::string json_path = dir + "/.nv-meta/.info.json", yaml_path = dir + "/.nv-meta/.info.yaml";
  try {
    if (fs::exists(json_path)) {
      std::ifstream in(json_path);
      const auto j = nlohmann::json::parse(in);
      for (const auto& [k, v] : j.at("shard_counts").items()) out[k] = v.get<std::uint64_t>();
    } else if (fs::exists(yaml_path)) {
      for (const auto& kv : YAML::LoadFile(yaml_path)["shard_counts"])
        out[kv.first.as<std::string>()] = kv.second.as<std::uint64_t>();
    }
  } catch (const std::exception& e) {
    throw DataError((fs::exists(json_path) ? json_path : yaml_path) + ": cannot read shard_counts (" + e.what() +
                    "); fix it, or delete it and run `hetero-data index DIR`");
  }
  return out;
}

std::vector<std::uint64_t> read_idx(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::uint64_t> out;
  std::uint64_t v;
  while (in.read(reinterpret_cast<char*>(&v), 8)) out.push_back(v);
  return out;
}

}  // namespace

std::vector<ScannedSample> scan_tar(const std::uint8_t* data, std::uint64_t size, std::uint64_t begin,
                                    std::uint64_t end, const std::string& path) {
  std::vector<ScannedSample> out;
  std::uint64_t at = begin;
  std::string long_name;
  while (at + 512 <= std::min(end, size)) {
    const char* h = reinterpret_cast<const char*>(data + at);
    if (h[0] == 0) break;  // the two zero blocks that end a tar
    const std::uint64_t len = octal(h + 124, 12);
    const char type = h[156];
    const std::uint64_t content = at + 512, next = content + (len + 511) / 512 * 512;
    if (content + len > size)
      throw DataError(path + ": member at byte " + std::to_string(at) + " runs past the end of the file (" +
                      std::to_string(size) + " bytes): the tar is truncated; copy it again");
    if (type == 'L') {  // GNU long name: the next member's name
      long_name = cstr(reinterpret_cast<const char*>(data + content), len);
    } else if (type == '0' || type == 0) {
      std::string name = long_name;
      if (name.empty()) {
        const std::string prefix = cstr(h + 345, 155);
        name = (prefix.empty() ? "" : prefix + "/") + cstr(h, 100);
      }
      long_name.clear();
      std::string key, ext;
      split_key(name, &key, &ext);
      if (out.empty() || out.back().key != key) out.push_back({key, at, {}});
      out.back().members.push_back({ext, content, len});
    } else {
      long_name.clear();  // directories, pax headers: not sample content
    }
    at = next;
  }
  return out;
}

std::vector<std::string> split_shards(const std::string& dir, const std::string& split) {
  const YAML::Node y = load_split_yaml(dir);
  const YAML::Node parts = y["split_parts"];
  if (!parts || !parts[split]) {
    std::string known;
    if (parts && parts.IsMap())
      for (const auto& kv : parts) known += (known.empty() ? "" : ", ") + kv.first.as<std::string>();
    throw DataError(dir + "/.nv-meta/split.yaml: no split_parts." + split + " (splits: " + known +
                    "); set data.split to one of them");
  }
  return shards_of(parts[split], dir + "/.nv-meta/split.yaml: split_parts." + split);
}

std::vector<std::string> all_shards(const std::string& dir) {
  std::vector<std::string> out;
  const YAML::Node parts = load_split_yaml(dir)["split_parts"];
  if (parts && parts.IsMap())
    for (const auto& kv : parts)
      for (auto& s : shards_of(kv.second, dir + "/.nv-meta/split.yaml: split_parts." + kv.first.as<std::string>()))
        if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  return out;
}

ShardSet::ShardSet(const std::string& dir, const std::string& split) : dir_(dir) {
  names_ = split_shards(dir, split);
  const auto counts = read_counts(dir);
  for (const std::string& name : names_) {
    const std::string tar = dir + "/" + name, idx = tar + ".idx";
    if (!fs::exists(tar))
      throw DataError(tar + ": missing, but " + dir + "/.nv-meta/split.yaml lists it; copy the shard or remove it "
                      "from split.yaml");
    if (!fs::exists(idx))
      throw DataError(idx + ": missing; run `hetero-data index " + dir + "` to write the shard indexes");
    tars_.push_back(std::make_unique<MappedFile>(tar));
    const MappedFile& t = *tars_.back();
    auto offsets = read_idx(idx);
    if (offsets.size() < 1)
      throw DataError(idx + ": empty; " + kReindex);
    const std::uint64_t n = offsets.size() - 1;
    if (auto c = counts.find(name); c != counts.end() && c->second != n)
      throw DataError(idx + ": indexes " + std::to_string(n) + " samples but .nv-meta/.info gives shard_counts[" +
                      name + "]=" + std::to_string(c->second) + ": the index does not match its tar; " + kReindex);
    for (std::uint64_t i = 0; i < n; ++i)
      if (offsets[i] >= offsets[i + 1] || offsets[i] % 512 != 0 || offsets[i + 1] > t.size())
        throw DataError(idx + ": entry " + std::to_string(i) + " (byte offset " + std::to_string(offsets[i]) +
                        ") does not lie on a tar header inside " + tar + " (" + std::to_string(t.size()) +
                        " bytes): the index does not match its tar; " + kReindex);
    counts_.push_back(n);
    first_.push_back(total_);
    total_ += n;
    offsets_.push_back(std::move(offsets));
  }
  if (total_ == 0) throw DataError(dir + ": split '" + split + "' holds no samples; check .nv-meta/split.yaml");
}

ShardSample ShardSet::sample(std::uint64_t g) const {
  const size_t s = static_cast<size_t>(std::upper_bound(first_.begin(), first_.end(), g) - first_.begin()) - 1;
  const std::uint64_t i = g - first_[s];
  const MappedFile& t = *tars_[s];
  const std::uint64_t begin = offsets_[s][i], end = offsets_[s][i + 1];
  auto scanned = scan_tar(t.data(), t.size(), begin, end, t.path());
  if (scanned.size() != 1 || scanned[0].offset != begin)
    throw DataError(t.path() + ".idx: entry " + std::to_string(i) + " spans bytes [" + std::to_string(begin) + ", " +
                    std::to_string(end) + ") which hold " + std::to_string(scanned.size()) +
                    " samples of the tar, not one: the index does not match its tar; " + kReindex);
  return {t.path(), scanned[0].key, begin, std::move(scanned[0].members), t.data()};
}

std::vector<std::string> index_shards(const std::string& dir) {
  std::vector<std::string> written;
  nlohmann::json counts = nlohmann::json::object();
  for (const std::string& name : all_shards(dir)) {
    const std::string tar = dir + "/" + name, idx = tar + ".idx";
    if (!fs::exists(tar))
      throw DataError(tar + ": missing, but " + dir + "/.nv-meta/split.yaml lists it; copy the shard or remove it "
                      "from split.yaml");
    const MappedFile t(tar);
    const auto samples = scan_tar(t.data(), t.size(), 0, t.size(), tar);
    counts[name] = samples.size();
    if (fs::exists(idx)) continue;
    std::ofstream out(idx, std::ios::binary);
    for (const auto& s : samples) out.write(reinterpret_cast<const char*>(&s.offset), 8);
    std::uint64_t end = 0;
    if (!samples.empty()) {
      const TarMember& last = samples.back().members.back();
      end = last.offset + (last.size + 511) / 512 * 512;
    }
    out.write(reinterpret_cast<const char*>(&end), 8);
    if (!out) throw DataError(idx + ": writing failed");
    written.push_back("wrote " + idx + " (" + std::to_string(samples.size()) + " samples)");
  }
  const std::string info = dir + "/.nv-meta/.info.json";
  if (!fs::exists(info) && !fs::exists(dir + "/.nv-meta/.info.yaml")) {
    std::ofstream out(info);
    out << nlohmann::json{{"shard_counts", counts}}.dump(2) << "\n";
    written.push_back("wrote " + info);
  }
  return written;
}

void write_tar(const std::string& path, const std::vector<std::pair<std::string, std::vector<std::uint8_t>>>& members) {
  if (fs::exists(path)) throw std::runtime_error(path + " exists; not overwriting it");
  std::ofstream out(path, std::ios::binary);
  const char zeros[512] = {};
  for (const auto& [name, bytes] : members) {
    if (name.size() >= 100) throw std::invalid_argument("write_tar: member name longer than 99 bytes: " + name);
    char h[512] = {};
    std::memcpy(h, name.data(), name.size());
    std::snprintf(h + 100, 8, "%07o", 0644);
    std::snprintf(h + 108, 8, "%07o", 0);
    std::snprintf(h + 116, 8, "%07o", 0);
    std::snprintf(h + 124, 12, "%011llo", static_cast<unsigned long long>(bytes.size()));
    std::snprintf(h + 136, 12, "%011o", 0);
    h[156] = '0';
    std::memcpy(h + 257, "ustar", 6);
    std::memcpy(h + 263, "00", 2);
    std::memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (unsigned char c : h) sum += c;
    std::snprintf(h + 148, 8, "%06o", sum);
    out.write(h, 512);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    out.write(zeros, static_cast<std::streamsize>((512 - bytes.size() % 512) % 512));
  }
  out.write(zeros, 512);
  out.write(zeros, 512);
  if (!out) throw std::runtime_error(path + ": writing failed");
}

}  // namespace hetero
