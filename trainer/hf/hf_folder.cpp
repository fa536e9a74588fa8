#include "hf/hf_folder.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "checkpoint/tensor_io.h"
#include "hetero/errors.h"

namespace hetero {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const char* kSingle = "model.safetensors";
const char* kIndex = "model.safetensors.index.json";

uint64_t stored_bytes(const SafeTensor& t) {
  return static_cast<uint64_t>(t.values.size()) * static_cast<uint64_t>(safetensors_dtype_size(t.dtype));
}

std::string shard_name(size_t i, size_t n) {
  char name[64];
  std::snprintf(name, sizeof(name), "model-%05zu-of-%05zu.safetensors", i + 1, n);
  return name;
}

}  // namespace

HfFolderReader::HfFolderReader(const std::string& dir) : dir_(dir) {
  std::vector<std::string> files;
  const fs::path index = fs::path(dir) / kIndex;
  if (fs::is_regular_file(dir)) {
    files.push_back(dir);
  } else if (fs::exists(index)) {
    std::ifstream in(index);
    json j;
    try {
      in >> j;
    } catch (const json::exception& e) {
      throw std::runtime_error(index.string() + " is not valid JSON: " + e.what());
    }
    if (!j.contains("weight_map") || !j["weight_map"].is_object())
      throw std::runtime_error(index.string() + " has no \"weight_map\" object");
    std::set<std::string> unique;
    for (const auto& [tensor, file] : j["weight_map"].items()) unique.insert(file.get<std::string>());
    files.assign(unique.begin(), unique.end());
  } else if (fs::exists(fs::path(dir) / kSingle)) {
    files.push_back(kSingle);
  } else {
    throw ConfigError(dir + ": found neither " + kSingle + " nor " + kIndex +
                      ": not a Hugging Face checkpoint folder; pass the folder save_pretrained wrote (or a "
                      ".safetensors file)");
  }
  for (const std::string& f : files) {
    const std::string path = f == dir ? dir : (fs::path(dir) / f).string();
    if (!fs::exists(path)) throw std::runtime_error(std::string(kIndex) + " in " + dir + " names " + f + ", which is missing");
    files_.push_back(std::make_unique<SafeTensorReader>(path));
    for (const auto& [name, info] : files_.back()->tensors())
      if (!where_.emplace(name, files_.back().get()).second)
        throw std::runtime_error(dir + ": tensor " + name + " is stored twice (" + where_[name]->path() + ", " + path + ")");
  }
}

std::vector<std::string> HfFolderReader::names() const {
  std::vector<std::string> out;
  for (const auto& [name, file] : where_) out.push_back(name);
  return out;
}

std::vector<int64_t> HfFolderReader::shape(const std::string& name) const {
  return where_.at(name)->tensors().at(name).shape;
}

at::Tensor HfFolderReader::read(const std::string& name) const {
  const auto it = where_.find(name);
  if (it == where_.end()) throw std::runtime_error(dir_ + " has no tensor " + name);
  return to_tensor(it->second->read(name));
}

void write_hf_weights(const std::string& dir, const std::vector<std::pair<std::string, SafeTensor>>& tensors,
                      std::uint64_t max_shard_bytes) {
  fs::create_directories(dir);
  // Consecutive tensors per shard, so a layer's tensors stay together.
  std::vector<std::vector<size_t>> shards(1);
  uint64_t in_shard = 0, total = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const uint64_t bytes = stored_bytes(tensors[i].second);
    if (!shards.back().empty() && in_shard + bytes > max_shard_bytes) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back().push_back(i);
    in_shard += bytes;
    total += bytes;
  }
  const std::map<std::string, std::string> metadata{{"format", "pt"}};
  // A folder exported before may hold the other form: remove it, or a reader
  // would find both.
  fs::remove(fs::path(dir) / kSingle);
  fs::remove(fs::path(dir) / kIndex);
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().filename().string().rfind("model-", 0) == 0 && entry.path().extension() == ".safetensors")
      fs::remove(entry.path());
  json weight_map = json::object();
  for (size_t s = 0; s < shards.size(); ++s) {
    const std::string file = shards.size() == 1 ? kSingle : shard_name(s, shards.size());
    std::map<std::string, SafeTensor> part;
    for (size_t i : shards[s]) {
      part.emplace(tensors[i].first, tensors[i].second);
      weight_map[tensors[i].first] = file;
    }
    write_safetensors((fs::path(dir) / file).string(), part, metadata);
  }
  if (shards.size() == 1) return;
  json index;
  index["metadata"] = {{"total_size", total}};
  index["weight_map"] = weight_map;
  std::ofstream((fs::path(dir) / kIndex).string()) << index.dump(2) << "\n";
}

}  // namespace hetero
