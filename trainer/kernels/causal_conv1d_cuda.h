// Host entry points of the causal conv1d + SiLU kernels (causal_conv1d.cu):
// raw pointers and a stream; each returns the launch's cudaError_t. Channel
// c = group * width + j. x [tokens, groups, width] with strides
// (x_token_stride, x_group_stride, 1), dx with (dx_token_stride,
// dx_group_stride, 1); out, d_out [tokens, groups * width] contiguous;
// weight [groups * width, kernel] and bias [groups * width] fp32;
// cu_seqlens [samples + 1] on the device.
#pragma once

#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

namespace hetero {

constexpr int kCausalConv1dMaxKernel = 8;  // taps the kernels' registers hold

struct CausalConv1dShape {
  int64_t tokens;
  int groups, width, kernel;
  int64_t x_token_stride, x_group_stride;
  int64_t dx_token_stride, dx_group_stride;  // the backward's
  int64_t samples;
};

// X: the input's (and dx's) dtype; Out: the output's (and d_out's) dtype.
template <typename X, typename Out>
cudaError_t causal_conv1d_silu_forward(const X* x, const float* weight, const float* bias, const int64_t* cu_seqlens,
                                       Out* out, const CausalConv1dShape& shape, cudaStream_t stream);

// partial: scratch of causal_conv1d_partial_tiles(tokens) * (kernel + 1) *
// channels floats, laid out [tiles, kernel + 1, channels]: each token tile's
// share of dw (taps 0..kernel-1) and db (row kernel). Summed over tiles, in
// order, by the caller: no float atomics, so the result is deterministic.
template <typename X, typename Out>
cudaError_t causal_conv1d_silu_backward(const Out* d_out, const X* x, const float* weight, const float* bias,
                                        const int64_t* cu_seqlens, X* dx, float* partial,
                                        const CausalConv1dShape& shape, cudaStream_t stream);

int64_t causal_conv1d_partial_tiles(int64_t tokens);

}  // namespace hetero
