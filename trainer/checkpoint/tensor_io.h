// Between LibTorch tensors and the torch-free SafeTensor of
// hetero/safetensors.h (row-major float values plus the dtype to store).
#pragma once

#include <string>

#include <ATen/ATen.h>

#include "hetero/safetensors.h"

namespace hetero {

// `t` (any device and float dtype) as float values, to be stored as `dtype`.
SafeTensor to_safetensor(const at::Tensor& t, const std::string& dtype = "F32");
// A float32 CPU tensor of `t`'s values (a copy).
at::Tensor to_tensor(const SafeTensor& t);

}  // namespace hetero
