// at::Tensor wrapper of the fp32 += bf16 kernel (CUDA build only;
// add_into_fp32_launch.cpp).
#pragma once

#include <ATen/ATen.h>

namespace hetero {

// What the kernel takes: into fp32 and add bf16, alike in shape, both
// contiguous CUDA tensors, 16-byte aligned, a multiple of 8 elements.
bool add_into_fp32_kernel_supports(const at::Tensor& into, const at::Tensor& add);

// into += add (fp32 += bf16, summed in fp32) where supported, else an error.
void add_into_fp32_cuda(at::Tensor& into, const at::Tensor& add);

}  // namespace hetero
