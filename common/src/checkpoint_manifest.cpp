#include "hetero/checkpoint_manifest.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "hetero/run_dir.h"
#include "hetero/safetensors.h"
#include "hetero/shape_text.h"

namespace hetero {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json piece_json(const CheckpointPiece& p) {
  return {{"tensor", p.tensor},         {"file", p.file},   {"dtype", p.dtype},
          {"global_shape", p.global_shape}, {"shard_dim", p.shard_dim}, {"shards", p.shards},
          {"shard", p.shard},           {"flat_begin", p.flat_begin}, {"flat_end", p.flat_end}};
}

CheckpointPiece piece_of(const json& j) {
  CheckpointPiece p;
  p.tensor = j.at("tensor").get<std::string>();
  p.file = j.at("file").get<std::string>();
  p.dtype = j.at("dtype").get<std::string>();
  p.global_shape = j.at("global_shape").get<std::vector<int64_t>>();
  p.shard_dim = j.at("shard_dim").get<int>();
  p.shards = j.at("shards").get<int>();
  p.shard = j.at("shard").get<int>();
  p.flat_begin = j.at("flat_begin").get<int64_t>();
  p.flat_end = j.at("flat_end").get<int64_t>();
  return p;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CheckpointError(path + ": cannot open (" + std::strerror(errno) + ")");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Parses a JSON file the checkpoint wrote; anything else is corruption.
json parse_file(const std::string& path, const std::string& what) {
  try {
    return json::parse(read_text(path));
  } catch (const json::exception& e) {
    throw CheckpointError(path + ": not a valid " + what + " (" + e.what() + ")");
  }
}

int parse_iteration_dir(const std::string& name) {
  if (name.size() != 12 || name.rfind("iter-", 0) != 0) return -1;
  for (size_t i = 5; i < name.size(); ++i)
    if (name[i] < '0' || name[i] > '9') return -1;
  return std::stoi(name.substr(5));
}

}  // namespace

int64_t CheckpointPiece::chunk_numel() const {
  int64_t n = 1;
  for (size_t d = 0; d < global_shape.size(); ++d)
    n *= static_cast<int>(d) == shard_dim ? global_shape[d] / shards : global_shape[d];
  return n;
}

std::string checkpoint_manifest_path(const std::string& dir) { return dir + "/manifest.json"; }

std::string checkpoint_rank_file(int rank) {
  char name[64];
  std::snprintf(name, sizeof(name), "rank-%05d.safetensors", rank);
  return name;
}

std::string checkpoint_rank_index(const std::string& dir, int rank) {
  char name[64];
  std::snprintf(name, sizeof(name), "rank-%05d.json", rank);
  return dir + "/" + name;
}

void fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw CheckpointError(dir + ": cannot open the folder to sync it (" + std::strerror(errno) + ")");
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) throw CheckpointError(dir + ": fsync failed (" + std::strerror(err) + ")");
}

void write_file_durably(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw CheckpointError(tmp + ": cannot open for writing (" + std::strerror(errno) + ")");
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      throw CheckpointError(tmp + ": write failed (" + std::strerror(err) + ")");
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0)
    throw CheckpointError(tmp + ": fsync failed (" + std::strerror(errno) + ")");
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw CheckpointError("cannot rename " + tmp + " to " + path + ": " + ec.message());
  fsync_dir(fs::path(path).parent_path().string());
}

void write_rank_index(const std::string& path, const RankIndex& index) {
  json j;
  j["pieces"] = json::array();
  for (const auto& p : index.pieces) j["pieces"].push_back(piece_json(p));
  j["optimizer_steps"] = index.optimizer_steps;
  write_file_durably(path, j.dump());
}

RankIndex read_rank_index(const std::string& path) {
  const json j = parse_file(path, "rank index");
  RankIndex out;
  try {
    for (const auto& e : j.at("pieces")) out.pieces.push_back(piece_of(e));
    out.optimizer_steps = j.at("optimizer_steps").get<std::map<std::string, int>>();
  } catch (const json::exception& e) {
    throw CheckpointError(path + ": not a valid rank index (" + e.what() + ")");
  }
  return out;
}

void write_manifest(const std::string& dir, const CheckpointManifest& m) {
  json j;
  j["format"] = m.format;
  const CheckpointProgress& p = m.progress;
  j["iteration"] = p.iteration;
  j["consumed_samples"] = p.consumed_samples;
  j["skipped_iterations"] = p.skipped_iterations;
  j["schedule_position"] = p.schedule_position;
  j["data"] = {{"next_sample_index", p.next_sample_index}, {"skipped", p.data_skipped}};
  j["optimizer_steps"] = p.optimizer_steps;
  j["world_size"] = m.world_size;
  j["config"] = m.config_yaml;
  j["tensors"] = json::array();
  for (const auto& piece : m.pieces) j["tensors"].push_back(piece_json(piece));
  write_file_durably(checkpoint_manifest_path(dir), j.dump(1));
}

CheckpointManifest read_manifest(const std::string& dir) {
  const std::string path = checkpoint_manifest_path(dir);
  if (!fs::exists(path))
    throw CheckpointError(dir + " has no manifest.json: it is not a complete checkpoint (a save that did not finish "
                                "leaves only iter-N.partial)");
  const json j = parse_file(path, "checkpoint manifest");
  CheckpointManifest m;
  try {
    m.format = j.at("format").get<std::string>();
    if (m.format != kCheckpointFormat)
      throw CheckpointError(path + ": format '" + m.format + "' is not " + kCheckpointFormat);
    CheckpointProgress& p = m.progress;
    p.iteration = j.at("iteration").get<int>();
    p.consumed_samples = j.at("consumed_samples").get<std::int64_t>();
    p.skipped_iterations = j.at("skipped_iterations").get<int>();
    p.schedule_position = j.at("schedule_position").get<std::int64_t>();
    p.next_sample_index = j.at("data").at("next_sample_index").get<std::int64_t>();
    p.data_skipped = j.at("data").at("skipped").get<std::int64_t>();
    p.optimizer_steps = j.at("optimizer_steps").get<std::map<std::string, int>>();
    m.world_size = j.at("world_size").get<int>();
    m.config_yaml = j.at("config").get<std::string>();
    for (const auto& e : j.at("tensors")) m.pieces.push_back(piece_of(e));
  } catch (const json::exception& e) {
    throw CheckpointError(path + ": not a valid checkpoint manifest (" + e.what() + ")");
  }
  return m;
}

void check_checkpoint_file(const std::string& dir, const std::string& file,
                           const std::vector<const CheckpointPiece*>& pieces) {
  const std::string fpath = dir + "/" + file;
  if (!fs::exists(fpath))
    throw CheckpointError(fpath + " is missing, but the manifest lists " + std::to_string(pieces.size()) +
                          " tensors in it (" + (pieces.empty() ? std::string("none") : pieces.front()->tensor) +
                          ", ...)");
  std::unique_ptr<SafeTensorReader> reader;
  try {
    reader = std::make_unique<SafeTensorReader>(fpath);
  } catch (const SafeTensorsError& e) {
    throw CheckpointError(std::string(e.what()) + " (truncated or corrupt)");
  }
  for (const CheckpointPiece* piece : pieces) {
    const auto it = reader->tensors().find(piece->tensor);
    if (it == reader->tensors().end())
      throw CheckpointError(fpath + " does not hold " + piece->tensor + ", which the manifest says it does");
    const int64_t n = piece->flat_end - piece->flat_begin;
    if (it->second.dtype != piece->dtype || it->second.numel() != n)
      throw CheckpointError(fpath + ": " + piece->tensor + " is " + it->second.dtype + " " +
                            shape_text(it->second.shape) + " but the manifest says " + piece->dtype + " with " +
                            std::to_string(n) + " elements");
  }
}

void check_checkpoint_files(const std::string& dir, const CheckpointManifest& m) {
  std::map<std::string, std::vector<const CheckpointPiece*>> by_file;
  for (const auto& piece : m.pieces) by_file[piece.file].push_back(&piece);
  for (const auto& [file, pieces] : by_file) check_checkpoint_file(dir, file, pieces);
}

std::optional<int> read_latest(const std::string& checkpoints_dir) {
  const std::string path = checkpoints_dir + "/latest";
  if (!fs::exists(path)) return std::nullopt;
  std::string text = read_text(path);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  const bool digits = !text.empty() && text.size() <= 9 &&
                      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits)
    throw CheckpointError(path + " holds '" + text.substr(0, 40) + "', not an iteration number; " +
                          checkpoint_alternatives(checkpoints_dir));
  const int iter = std::stoi(text);
  const std::string dir = RunPaths{fs::path(checkpoints_dir).parent_path().string()}.checkpoint_dir(iter);
  if (!fs::is_directory(dir))
    throw CheckpointError(path + " names iteration " + std::to_string(iter) + " but " + dir + " is missing; " +
                          checkpoint_alternatives(checkpoints_dir));
  return iter;
}

void write_latest(const std::string& checkpoints_dir, int iteration) {
  write_file_durably(checkpoints_dir + "/latest", std::to_string(iteration) + "\n");
}

std::vector<int> complete_checkpoints(const std::string& checkpoints_dir) {
  std::vector<int> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(checkpoints_dir, ec)) {
    const int iter = parse_iteration_dir(e.path().filename().string());
    if (iter >= 0 && fs::exists(checkpoint_manifest_path(e.path().string()))) out.push_back(iter);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string checkpoint_alternatives(const std::string& checkpoints_dir) {
  const std::vector<int> iters = complete_checkpoints(checkpoints_dir);
  std::string s = "start fresh with --resume none";
  if (!iters.empty()) {
    s += ", or resume from one of the complete checkpoints with --resume " + checkpoints_dir + "/iter-N (N: ";
    for (size_t i = 0; i < iters.size(); ++i) s += (i ? ", " : "") + std::to_string(iters[i]);
    s += ")";
  }
  return s;
}

}  // namespace hetero
