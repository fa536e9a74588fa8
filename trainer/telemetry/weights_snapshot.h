// Weight snapshots (--save-weights-at 0,5): the full weights of each module
// and pipeline stage at chosen iterations, in RunPaths::weights_file. They
// show what a training stage changed (a frozen part stays bit-identical) and
// let two layouts' weights be compared tensor by tensor.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "dist/comm.h"
#include "hetero/run_dir.h"
#include "model/params.h"

namespace hetero {

// Call on every rank of the module (it is collective over tp, and over etp
// for MoE experts). Dense tensors, their tp shards joined, are written by dp
// rank 0 / tp rank 0 to weights_file(iter, module, stage); MoE experts,
// their etp shards joined, by each ep rank's edp rank 0 / etp rank 0 to
// weights_file(iter, module + "-experts-ep" + ep rank, stage): together the
// files hold every tensor once, under its global name. `buffers`: state
// outside the ParamSet, replicated over tp (LanguageModel::buffers(), the
// MoE score-correction biases), written with the dense tensors, so that a
// snapshot holds all a checkpoint export needs.
void save_weights(const ParamSet& params, const ModuleGroups& g, const std::string& module, int iter,
                  const RunPaths& paths, const std::vector<std::pair<std::string, at::Tensor*>>& buffers = {});

}  // namespace hetero
