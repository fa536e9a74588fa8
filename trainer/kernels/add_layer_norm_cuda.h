// Host entry points of the fused residual add + LayerNorm kernels
// (add_layer_norm.cu): raw pointers and a stream; each returns the launch's
// cudaError_t. Rows are tokens of n channels: x, a, h, y, dy, dh_in, dh
// [tokens, n] contiguous in T (fp32 or bf16); gamma, beta, d_gamma, d_beta
// [n] fp32; mean, rstd [tokens] fp32. Every pointer 16-byte aligned (the
// kernels move 8 channels per vector access).
#pragma once

#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

namespace hetero {

constexpr int kAddLayerNormMaxRow = 4096;   // channels per row that the kernels' registers hold
constexpr int kAddLayerNormRowMultiple = 8;  // n % 8 == 0: one 16-byte bf16 vector

struct AddLayerNormShape {
  int64_t tokens;
  int n;
  float eps;
};

// h = x + a in T; y = layer_norm(h) * gamma + beta in T; the row's mean and rstd.
template <typename T>
cudaError_t add_layer_norm_forward(const T* x, const T* a, const float* gamma, const float* beta, T* h, T* y,
                                   float* mean, float* rstd, const AddLayerNormShape& shape, cudaStream_t stream);

// dh = dh_in + LayerNorm's backward of dy (dh_in may be null: no gradient at
// h from the residual path); d_gamma, d_beta summed over the rows.
// partial: scratch of add_layer_norm_partial_rows(tokens) * 2 * n floats.
template <typename T>
cudaError_t add_layer_norm_backward(const T* dy, const T* dh_in, const T* h, const float* gamma, const float* mean,
                                    const float* rstd, T* dh, float* d_gamma, float* d_beta, float* partial,
                                    const AddLayerNormShape& shape, cudaStream_t stream);

int64_t add_layer_norm_partial_rows(int64_t tokens);

}  // namespace hetero
