#include "checkpoint/module_state.h"

namespace hetero {
namespace {

std::vector<int64_t> global_shape(const Param& p) {
  std::vector<int64_t> shape = p.value.sizes().vec();
  if (p.tp_shard_dim >= 0) shape[p.tp_shard_dim] *= p.shards;
  return shape;
}

// Whether this rank is the one that writes `p`'s values: each tp (etp)
// shard once, from the first of its replicas.
bool owns(const Param& p, const ModuleGroups& g, bool replicated_over_dp) {
  if (p.tp_shard_dim < 0 && g.tp.rank != 0) return false;  // replicated over tp
  if (!replicated_over_dp) return true;
  return (p.expert_dp ? p.expert_dp->rank : g.dp.rank) == 0;
}

CheckpointPiece piece_of(const std::string& tensor, const Param& p, int64_t begin, int64_t n) {
  CheckpointPiece c;
  c.tensor = tensor;
  c.global_shape = global_shape(p);
  c.shard_dim = p.tp_shard_dim;
  c.shards = p.tp_shard_dim >= 0 ? p.shards : 1;
  c.shard = p.tp_shard_dim >= 0 ? p.shard : 0;
  c.flat_begin = begin;
  c.flat_end = begin + n;
  return c;
}

}  // namespace

std::string moment_tensor_name(const std::string& moment, const std::string& param) { return moment + "/" + param; }

std::vector<SavedTensor> pieces_to_save(const std::vector<ModuleState>& modules) {
  std::vector<SavedTensor> out;
  for (const ModuleState& m : modules) {
    const ModuleGroups& g = *m.groups;
    for (const Param& p : *m.params) {
      if (!owns(p, g, true)) continue;
      const at::Tensor flat = p.value.detach().reshape({-1});
      out.push_back({piece_of(p.name, p, 0, flat.numel()), flat});
    }
    if (g.tp.rank == 0 && g.dp.rank == 0) {
      for (const auto& [name, tensor] : m.buffers) {
        CheckpointPiece c;
        c.tensor = name;
        c.global_shape = tensor->sizes().vec();
        c.flat_end = tensor->numel();
        out.push_back({c, tensor->detach().reshape({-1})});
      }
    }
    if (!m.optimizer) continue;
    for (const OptimizerStatePiece& s : m.optimizer->state_pieces()) {
      if (!owns(*s.param, g, s.replicated_over_dp)) continue;
      out.push_back({piece_of(moment_tensor_name(s.moment, s.param->name), *s.param, s.flat_begin,
                              s.values.numel()),
                     s.values});
    }
  }
  return out;
}

}  // namespace hetero
