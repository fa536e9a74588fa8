#include "telemetry/weights_snapshot.h"

#include "checkpoint/tensor_io.h"
#include <filesystem>
#include <map>

#include "hetero/safetensors.h"

namespace hetero {
namespace {

// The whole tensor: shards along `dim` joined over `g` (collective), on CPU.
at::Tensor joined(const at::Tensor& shard, int dim, const Group& g) {
  at::Tensor full = shard.detach();
  if (dim >= 0 && g.size() > 1) full = at::cat(all_gather(g, full), dim);
  return full.to(at::kCPU, at::kFloat).contiguous();
}

// Joins `params` over `shards` and, on its first rank, writes them to `path`.
void write_joined(const std::vector<const Param*>& params, const Group& shards, const std::string& path,
                  const std::map<std::string, std::string>& metadata,
                  const std::vector<std::pair<std::string, at::Tensor*>>& buffers = {}) {
  std::map<std::string, SafeTensor> tensors;
  for (const auto& [name, buffer] : buffers) {
    tensors.emplace(name, to_safetensor(*buffer));
  }
  for (const Param* p : params) {
    const at::Tensor full = joined(p->value, p->tp_shard_dim, shards);
    if (shards.rank != 0) continue;
    tensors.emplace(p->name, to_safetensor(full));
  }
  if (shards.rank != 0) return;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  write_safetensors(path, tensors, metadata);
}

}  // namespace

void save_weights(const ParamSet& params, const ModuleGroups& g, const std::string& module, int iter,
                  const RunPaths& paths, const std::vector<std::pair<std::string, at::Tensor*>>& buffers) {
  std::vector<const Param*> dense, experts;
  for (const Param& p : params.params()) (p.expert_dp ? experts : dense).push_back(&p);
  const int stage = g.pp.rank;
  auto metadata = [&](const std::string& what) {
    return std::map<std::string, std::string>{{"iter", std::to_string(iter)}, {"module", what},
                                              {"stage", std::to_string(stage)}, {"format", "hetero-weights-v1"}};
  };
  if (g.dp.rank == 0) write_joined(dense, g.tp, paths.weights_file(iter, module, stage), metadata(module), buffers);
  // Experts are split over etp, not tp, and each ep rank holds its own.
  if (!experts.empty() && experts.front()->expert_dp->rank == 0) {
    const std::string name = module + "-experts-ep" + std::to_string(g.ep.rank);
    write_joined(experts, g.etp, paths.weights_file(iter, name, stage), metadata(name));
  }
}

}  // namespace hetero
