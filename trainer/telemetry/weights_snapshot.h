// Weight snapshots (--save-weights-at 0,5): the full weights of each module
// and pipeline stage at chosen iterations, in RunPaths::weights_file. They
// show what a training stage changed (a frozen part stays bit-identical) and
// let two layouts' weights be compared tensor by tensor.
#pragma once

#include <string>

#include "dist/comm.h"
#include "model/params.h"

namespace hetero {

// Collective over `g.tp`: joins each tensor-parallel shard, and the group's
// first rank writes `path` (only call it on dp rank 0 of the module).
void save_weights(const ParamSet& params, const ModuleGroups& g, const std::string& module, int iter,
                  const std::string& path);

}  // namespace hetero
