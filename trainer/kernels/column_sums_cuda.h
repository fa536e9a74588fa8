// Host entry point of the column-sum kernel (column_sums.cu), the bias
// gradients' reduction: raw pointers and a stream; returns the launch's
// cudaError_t.
#pragma once

#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

namespace hetero {

constexpr int kColumnSumsMultiple = 8;  // cols % 8 == 0: a thread's 8 columns are one or two 16-byte loads

// The rows of the partial sums column_sums launches over a [rows, cols] matrix.
int64_t column_sums_chunks(int64_t rows, int64_t cols);

// out[c] = sum over r of x[r, c], in fp32, for x [rows, cols] row-major in T
// (fp32 or bf16), cols a multiple of kColumnSumsMultiple, x 16-byte aligned,
// over `chunks` chunks of rows (column_sums_chunks(rows, cols), at least 1);
// partials: chunks * cols floats of scratch. Each chunk of rows is summed in
// a fixed order, then the chunks in order: the result is deterministic.
template <typename T>
cudaError_t column_sums(const T* x, int64_t rows, int64_t cols, int64_t chunks, float* partials, float* out,
                        cudaStream_t stream);

}  // namespace hetero
