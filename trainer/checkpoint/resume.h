// Starting from a training checkpoint (hetero-train --resume): which one,
// whether it fits this model, and loading it into any layout.
#pragma once

#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "checkpoint/checkpoint_source.h"
#include "checkpoint/module_state.h"
#include "hetero/run_dir.h"

namespace hetero {

// `resume`: "auto" (the checkpoint RUN/checkpoints/latest names, if any),
// "none", or a checkpoint folder. Returns the folder to resume from, or ""
// to start fresh. Throws CheckpointError when the request cannot be met.
std::string resolve_resume(const std::string& resume, const RunPaths& paths);

// Refuses, before any training, a checkpoint made for another model: names
// the tensors whose shape differs or that one side lacks, and the recipe
// keys (model.*, train.global_batch_size) whose values differ.
void check_checkpoint_fits(CheckpointSource& source, const std::vector<ModuleState>& modules,
                           const YAML::Node& recipe);

// Overwrites weights, buffers and optimizer state of `modules` with the
// checkpoint's, cut for this rank's layout, and returns where training
// stood. A module that trains now but was frozen in the checkpoint keeps
// its fresh optimizer state (the log says so).
CheckpointProgress load_checkpoint(CheckpointSource& source, std::vector<ModuleState>& modules, bool logs);

}  // namespace hetero
