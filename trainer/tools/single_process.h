// What the hetero-hf commands share: they run our models in one process,
// without any communicator.
#pragma once

#include <string>

#include <ATen/ATen.h>

#include "dist/comm.h"

namespace hetero {

// --device: cpu or cuda (device 0).
at::Device parse_device(const std::string& name);
// --dtype: fp32 or bf16. fp32 also turns TF32 off in cuBLAS and cuDNN:
// comparisons with transformers in fp32 mean fp32 (TF32 costs ~1e-3).
at::ScalarType parse_compute_dtype(const std::string& name);

// Groups of this process alone: every collective on a group of one returns
// at once (comm.h, tp_ops.h, all_to_all.h), so no Gloo or NCCL group and no
// store is needed, on CPU and CUDA builds alike.
Group single_process_group(at::Device device);
ModuleGroups single_process_groups(at::Device device);

}  // namespace hetero
