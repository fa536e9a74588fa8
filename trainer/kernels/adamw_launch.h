// at::Tensor wrapper of the fused AdamW kernel (CUDA build only;
// adamw_launch.cpp). Shapes and dtypes as optim/adamw_step.h.
#pragma once

#include <ATen/ATen.h>

#include "kernels/adamw.h"

namespace hetero {

// w, m, v in place; all fp32 CUDA tensors of g's element count, contiguous;
// decay_mask bool or undefined.
void adamw_step_cuda(at::Tensor& w, const at::Tensor& g, at::Tensor& m, at::Tensor& v, const at::Tensor& decay_mask,
                     const AdamWScalars& s);

}  // namespace hetero
