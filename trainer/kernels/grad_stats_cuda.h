// Host entry point of the gradient-statistics kernel (grad_stats.cu): raw
// pointers and a stream; returns the launch's cudaError_t.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace hetero {

// The blocks grad_stats_fp32 launches over `total` elements: the rows of
// its partials.
int grad_stats_blocks(int64_t total);

// The sum of squares and the count of exact zeros of `count` fp32 arrays
// read as one of `total` elements. table (device, int64 [2 * count]):
// table[t] is array t's device address, table[count + t] the end of array t
// in the whole (inclusive prefix sums of the element counts, none 0; the
// last is `total`). Block b of grad_stats_blocks(total) writes
// partials[2 b] (its sum of squares, accumulated in fp64) and
// partials[2 b + 1] (its zeros): each block a fixed range, in a fixed
// order, so the partials (and a sum over them) are deterministic.
cudaError_t grad_stats_fp32(const int64_t* table, int count, int64_t total, double* partials, cudaStream_t stream);

}  // namespace hetero
