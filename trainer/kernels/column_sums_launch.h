// at::Tensor wrapper of the column-sum CUDA kernel (CUDA build only;
// column_sums_launch.cpp).
#pragma once

#include <ATen/ATen.h>

namespace hetero {

// Whether column_sums_cuda takes x: a contiguous 2-D fp32 or bf16 CUDA
// tensor whose row length is a multiple of 8, at a 16-byte aligned address.
bool column_sums_supported(const at::Tensor& x);

// x.sum(0) in fp32 ([cols]), x [rows, cols] as column_sums_supported.
at::Tensor column_sums_cuda(const at::Tensor& x);

}  // namespace hetero
