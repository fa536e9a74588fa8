// What a checkpoint holds of one module on one rank, and which of it this
// rank writes. Each element of the job's state is written by exactly one
// rank (design §8): tensor-parallel shards by every tp rank, tp-replicated
// tensors by tp rank 0, data-parallel replicas by dp rank 0 (edp rank 0 for
// MoE experts), distributed-optimizer shares by every dp rank.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "dist/comm.h"
#include "hetero/checkpoint_manifest.h"
#include "model/params.h"
#include "optim/adamw.h"

namespace hetero {

struct ModuleState {
  std::string module;                    // "encoder" | "llm"
  std::vector<Param>* params = nullptr;  // every parameter, frozen ones too
  Optimizer* optimizer = nullptr;        // null: nothing of the module trains
  std::vector<std::pair<std::string, at::Tensor*>> buffers;  // replicated over tp and dp
  const ModuleGroups* groups = nullptr;
};

// One piece this rank writes: where it goes and a view of its live values.
struct SavedTensor {
  CheckpointPiece piece;  // `file` is left empty: the writer fills in the rank's file
  at::Tensor values;      // 1-D, flat_end - flat_begin elements (a view; the writer copies it)
};

// The pieces this rank owns in `modules`, each once in the job.
std::vector<SavedTensor> pieces_to_save(const std::vector<ModuleState>& modules);

// The key of an optimizer moment in a checkpoint: "exp_avg/<param name>".
std::string moment_tensor_name(const std::string& moment, const std::string& param);

}  // namespace hetero
