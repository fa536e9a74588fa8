#include "checkpoint/checkpoint_source.h"

#include <algorithm>
#include <set>

#include "hetero/shape_text.h"

namespace hetero {

CheckpointSource::CheckpointSource(const std::string& dir) : dir_(dir), manifest_(read_manifest(dir)) {
  for (const CheckpointPiece& p : manifest_.pieces) {
    const bool cut_ok = p.shard_dim < 0 ? p.shards == 1
                                        : p.shard_dim < static_cast<int>(p.global_shape.size()) && p.shards > 0 &&
                                              p.global_shape[p.shard_dim] % p.shards == 0 && p.shard < p.shards;
    if (!cut_ok || p.flat_begin < 0 || p.flat_end < p.flat_begin || p.flat_end > p.chunk_numel())
      throw CheckpointError(checkpoint_manifest_path(dir) + ": the entry of " + p.tensor + " in " + p.file +
                            " does not fit the tensor's shape " + shape_text(p.global_shape) +
                            " (corrupt manifest)");
    by_tensor_[p.tensor].push_back(&p);
  }
}

const SafeTensorReader& CheckpointSource::reader(const std::string& file) {
  auto it = readers_.find(file);
  if (it != readers_.end()) return *it->second;
  std::vector<const CheckpointPiece*> pieces;
  for (const CheckpointPiece& p : manifest_.pieces)
    if (p.file == file) pieces.push_back(&p);
  check_checkpoint_file(dir_, file, pieces);
  return *readers_.emplace(file, std::make_unique<SafeTensorReader>(dir_ + "/" + file)).first->second;
}

std::vector<int64_t> CheckpointSource::global_shape(const std::string& name) const {
  const auto it = by_tensor_.find(name);
  return it == by_tensor_.end() ? std::vector<int64_t>{} : it->second.front()->global_shape;
}

std::vector<std::string> CheckpointSource::weight_names(const std::string& prefix) const {
  std::vector<std::string> out;
  for (const auto& [name, pieces] : by_tensor_)
    if (name.find('/') == std::string::npos && name.rfind(prefix, 0) == 0) out.push_back(name);
  return out;
}

at::Tensor CheckpointSource::chunk(const std::string& name, int dim, int shards, int shard) {
  std::vector<const CheckpointPiece*> pieces;
  for (const CheckpointPiece* p : by_tensor_.at(name))
    if (p->shard_dim == dim && p->shards == shards && p->shard == shard) pieces.push_back(p);
  std::sort(pieces.begin(), pieces.end(),
            [](const CheckpointPiece* a, const CheckpointPiece* b) { return a->flat_begin < b->flat_begin; });
  const CheckpointPiece& first = *by_tensor_.at(name).front();
  std::vector<int64_t> shape = first.global_shape;
  if (dim >= 0) shape[dim] /= shards;
  const int64_t numel = first.chunk_numel();
  at::Tensor out = at::empty({numel}, at::kFloat);
  int64_t covered = 0;
  for (const CheckpointPiece* p : pieces) {
    if (p->flat_begin != covered) break;
    if (p->dtype != "F32")
      throw CheckpointError(dir_ + "/" + p->file + ": " + name + " is stored as " + p->dtype +
                            "; training checkpoints hold F32");
    at::Tensor part = out.narrow(0, p->flat_begin, p->flat_end - p->flat_begin);
    reader(p->file).read_raw(name, part.data_ptr(), static_cast<uint64_t>(part.numel()) * 4);
    covered = p->flat_end;
  }
  if (covered != numel)
    throw CheckpointError(describe() + ": " + name + " (shard " + std::to_string(shard) + " of " +
                          std::to_string(shards) + ") is incomplete: its pieces cover elements [0, " +
                          std::to_string(covered) + ") of " + std::to_string(numel) +
                          " (a rank's files or manifest entries are missing)");
  return out.view(shape);
}

at::Tensor CheckpointSource::full(const std::string& name) {
  const auto it = by_tensor_.find(name);
  if (it == by_tensor_.end()) return {};
  const CheckpointPiece& first = *it->second.front();
  for (const CheckpointPiece* p : it->second)
    if (p->global_shape != first.global_shape || p->shard_dim != first.shard_dim || p->shards != first.shards)
      throw CheckpointError(checkpoint_manifest_path(dir_) + ": the pieces of " + name +
                            " disagree on its shape or how it was cut (corrupt manifest)");
  if (first.shard_dim < 0) return chunk(name, -1, 1, 0);
  std::vector<at::Tensor> chunks;
  for (int s = 0; s < first.shards; ++s) chunks.push_back(chunk(name, first.shard_dim, first.shards, s));
  return at::cat(chunks, first.shard_dim);
}

at::Tensor CheckpointSource::shard(const std::string& name, const Param& p) {
  const auto it = by_tensor_.find(name);
  if (it == by_tensor_.end()) return {};
  const CheckpointPiece& first = *it->second.front();
  const bool same_cut = p.tp_shard_dim >= 0 ? first.shard_dim == p.tp_shard_dim && first.shards == p.shards
                                            : first.shard_dim < 0;
  if (!same_cut) return WeightSource::shard(name, p);
  std::vector<int64_t> expected = p.value.sizes().vec();
  if (p.tp_shard_dim >= 0) expected[p.tp_shard_dim] *= p.shards;
  if (first.global_shape != expected)
    throw std::runtime_error(describe() + ": tensor for " + name + " has shape " + shape_text(first.global_shape) +
                             " but the model's (unsharded) parameter is " + shape_text(expected) +
                             "; the recipe's architecture does not match the checkpoint");
  return chunk(name, first.shard_dim, first.shards, p.tp_shard_dim >= 0 ? p.shard : 0);
}

}  // namespace hetero
