#include "checkpoint/snapshot_source.h"

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "checkpoint/tensor_io.h"
#include "hetero/errors.h"
#include "hetero/run_dir.h"

namespace hetero {
namespace {

namespace fs = std::filesystem;

// <module>-stage-S.safetensors and <module>-experts-epE-stage-S.safetensors.
bool is_module_file(const std::string& file, const std::string& module) {
  const std::string ext = ".safetensors";
  if (file.size() <= ext.size() || file.compare(file.size() - ext.size(), ext.size(), ext) != 0) return false;
  return file.rfind(module + "-stage-", 0) == 0 || file.rfind(module + "-experts-ep", 0) == 0;
}

}  // namespace

SnapshotSource::SnapshotSource(const std::string& run_dir, int iter, const std::string& module)
    : dir_(fs::path(RunPaths{run_dir}.weights_file(iter, module, 0)).parent_path().string()) {
  const std::string fix = "; hetero-train --save-weights-at " + std::to_string(iter) + " writes it";
  if (!fs::is_directory(dir_)) throw ConfigError(dir_ + " does not exist: no weight snapshot of iteration " +
                                                 std::to_string(iter) + " in " + run_dir + fix);
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(dir_))
    if (is_module_file(entry.path().filename().string(), module)) files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  if (files.empty())
    throw ConfigError(dir_ + " holds no " + module + "-stage-*.safetensors: no " + module + " snapshot" + fix);
  for (const std::string& path : files) {
    files_.push_back(std::make_unique<SafeTensorReader>(path));
    for (const auto& [name, info] : files_.back()->tensors())
      if (!where_.emplace(name, files_.back().get()).second)
        throw std::runtime_error(dir_ + ": tensor " + name + " is in two files (" + where_[name]->path() + ", " +
                                 path + "); the folder mixes snapshots of different runs");
  }
}

std::string SnapshotSource::describe() const { return "weight snapshot " + dir_; }

at::Tensor SnapshotSource::full(const std::string& name) {
  const auto it = where_.find(name);
  if (it == where_.end()) return {};
  return to_tensor(it->second->read(name));
}

std::vector<std::string> SnapshotSource::names() const {
  std::vector<std::string> out;
  for (const auto& [name, file] : where_) out.push_back(name);
  return out;
}

}  // namespace hetero
