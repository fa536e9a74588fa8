// CUDA kernels of the gated RMSNorm (math: gated_rms_norm.h), and without a
// gate (z = nullptr) of the plain RMSNorm.
//
// Forward: one block per (token, group) row; each thread holds its channels'
// gated values in registers (Slots of them, the template parameter, chosen
// per row width so that narrow rows do not pay for the widest), so y and z
// are read once.
// Backward: one block per (group, run of tokens); per token the row's dot
// product is a block reduction and the channels' dw shares add up in
// registers, written as one partial row per block; a second kernel sums the
// partial rows in order. The run length depends only on the shape (enough
// blocks to fill the GPU when there is one group of wide rows, as the LLM's
// norms, and at most 32 tokens), so every sum has a fixed order and the
// results are deterministic.
#include "kernels/gated_rms_norm_cuda.h"

#include <type_traits>

#include "kernels/gated_rms_norm.h"
#include "kernels/element.cuh"

namespace hetero {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxSlots = kGatedRmsNormMaxRow / kThreads;  // channels per thread at the widest row
constexpr int kWarps = kThreads / 32;
constexpr int kMaxTokensPerBlock = 32;
constexpr int64_t kBackwardBlocksWanted = 512;  // a few blocks per SM on current GPUs

// Tokens per backward block: at most kMaxTokensPerBlock, fewer where the
// grid would otherwise leave SMs idle. A function of the shape alone.
int64_t tokens_per_block(const GatedRmsNormShape& s) {
  const int64_t per = s.tokens * s.groups / kBackwardBlocksWanted;
  return per < 1 ? 1 : (per > kMaxTokensPerBlock ? kMaxTokensPerBlock : per);
}

// The gate's factor on y: silu(z), or 1 without a gate.
template <typename Z>
__device__ __forceinline__ float gate_input(const Z* z_row, int c, float y) {
  return z_row ? gated_value(y, to_float(z_row[c])) : y;
}

// The block's total of v, the same on every thread; `scratch` holds kWarps
// floats. Fixed reduction tree: deterministic.
__device__ float block_sum(float v, float* scratch) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  __syncthreads();  // an earlier call's readers are done with scratch
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float total = 0.0f;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) total += scratch[w];
  return total;
}

template <typename Z, typename Out, int Slots>
__global__ void __launch_bounds__(kThreads) gated_rms_norm_forward_kernel(const float* __restrict__ y,
                                                                          const Z* __restrict__ z,
                                                                          const float* __restrict__ w,
                                                                          Out* __restrict__ out,
                                                                          float* __restrict__ rstd,
                                                                          GatedRmsNormShape shape) {
  __shared__ float scratch[kWarps];
  const int64_t row = blockIdx.x, token = row / shape.groups;
  const int group = static_cast<int>(row % shape.groups), n = shape.n;
  const float* y_row = y + row * n;
  const Z* z_row = z ? z + token * shape.z_token_stride + group * shape.z_group_stride : nullptr;
  float gated[Slots], squares = 0.0f;
#pragma unroll
  for (int k = 0; k < Slots; ++k) {
    const int c = threadIdx.x + k * kThreads;
    gated[k] = c < n ? gate_input(z_row, c, y_row[c]) : 0.0f;
    squares += gated[k] * gated[k];
  }
  const float r = gated_rstd(block_sum(squares, scratch), n, shape.eps);
  if (threadIdx.x == 0) rstd[row] = r;
  const float* w_group = w + static_cast<int64_t>(group) * n;
#pragma unroll
  for (int k = 0; k < Slots; ++k) {
    const int c = threadIdx.x + k * kThreads;
    if (c < n) out[row * n + c] = from_float<Out>(gated_normed(gated[k], r, w_group[c]));
  }
}

template <typename Z, typename Out, int Slots>
__global__ void __launch_bounds__(kThreads) gated_rms_norm_backward_kernel(
    const Out* __restrict__ d_out, const float* __restrict__ y, const Z* __restrict__ z, const float* __restrict__ w,
    const float* __restrict__ rstd, float* __restrict__ dy, Z* __restrict__ dz, float* __restrict__ dw_partial,
    GatedRmsNormShape shape, int64_t run) {
  __shared__ float scratch[kWarps];
  const int group = blockIdx.y, n = shape.n;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * run;
  const int64_t last = min(shape.tokens, first + run);
  const float* w_group = w + static_cast<int64_t>(group) * n;
  float w_reg[Slots], dw[Slots];
#pragma unroll
  for (int k = 0; k < Slots; ++k) {
    const int c = threadIdx.x + k * kThreads;
    w_reg[k] = c < n ? w_group[c] : 0.0f;
    dw[k] = 0.0f;
  }
  for (int64_t token = first; token < last; ++token) {
    const int64_t row = token * shape.groups + group;
    const float r = rstd[row];
    const float* y_row = y + row * n;
    const Z* z_row = z ? z + token * shape.z_token_stride + group * shape.z_group_stride : nullptr;
    float yv[Slots], zv[Slots], gv[Slots], dot = 0.0f;
#pragma unroll
    for (int k = 0; k < Slots; ++k) {
      const int c = threadIdx.x + k * kThreads;
      const bool in = c < n;
      yv[k] = in ? y_row[c] : 0.0f;
      zv[k] = in && z_row ? to_float(z_row[c]) : 0.0f;
      gv[k] = in ? to_float(d_out[row * n + c]) : 0.0f;
      dot += gated_dot_term(gv[k], z_row ? gated_value(yv[k], zv[k]) : yv[k], r, w_reg[k]);
    }
    const float mean_dot = block_sum(dot, scratch) / static_cast<float>(n);
#pragma unroll
    for (int k = 0; k < Slots; ++k) {
      const int c = threadIdx.x + k * kThreads;
      if (c < n) {
        const GatedRmsNormGrad g = z_row ? gated_rms_norm_grad(gv[k], yv[k], zv[k], w_reg[k], r, mean_dot)
                                         : rms_norm_grad(gv[k], yv[k], w_reg[k], r, mean_dot);
        dy[row * n + c] = g.dy;
        if (dz) dz[token * shape.dz_token_stride + group * shape.dz_group_stride + c] = from_float<Z>(g.dz);
        dw[k] += g.dw;
      }
    }
  }
  const int64_t width = static_cast<int64_t>(shape.groups) * n;
#pragma unroll
  for (int k = 0; k < Slots; ++k) {
    const int c = threadIdx.x + k * kThreads;
    if (c < n) dw_partial[blockIdx.x * width + static_cast<int64_t>(group) * n + c] = dw[k];
  }
}

// dw[col] = sum over partial rows, in row order.
__global__ void sum_partial_rows_kernel(const float* __restrict__ partial, float* __restrict__ out, int64_t rows,
                                        int64_t width) {
  const int64_t col = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (col >= width) return;
  float total = 0.0f;
  for (int64_t r = 0; r < rows; ++r) total += partial[r * width + col];
  out[col] = total;
}

bool valid(const GatedRmsNormShape& s) { return s.n > 0 && s.n <= kGatedRmsNormMaxRow && s.groups > 0; }

// Slots per thread for rows of n channels: the fewest of 4, 8, 16 that hold them.
template <typename F>
cudaError_t with_slots(int n, F&& launch) {
  if (n <= 4 * kThreads) return launch(std::integral_constant<int, 4>());
  if (n <= 8 * kThreads) return launch(std::integral_constant<int, 8>());
  static_assert(kMaxSlots == 16, "with_slots covers every row width up to kGatedRmsNormMaxRow");
  return launch(std::integral_constant<int, 16>());
}

}  // namespace

int64_t gated_rms_norm_dw_partial_rows(const GatedRmsNormShape& shape) {
  const int64_t run = tokens_per_block(shape);
  return (shape.tokens + run - 1) / run;
}

template <typename Z, typename Out>
cudaError_t gated_rms_norm_forward(const float* y, const Z* z, const float* w, Out* out, float* rstd,
                                   const GatedRmsNormShape& shape, cudaStream_t stream) {
  if (!valid(shape)) return cudaErrorInvalidValue;
  const int64_t rows = shape.tokens * shape.groups;
  if (rows == 0) return cudaSuccess;
  return with_slots(shape.n, [&](auto slots) {
    gated_rms_norm_forward_kernel<Z, Out, decltype(slots)::value>
        <<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(y, z, w, out, rstd, shape);
    return cudaGetLastError();
  });
}

template <typename Z, typename Out>
cudaError_t gated_rms_norm_backward(const Out* d_out, const float* y, const Z* z, const float* w, const float* rstd,
                                    float* dy, Z* dz, float* dw, float* dw_partial, const GatedRmsNormShape& shape,
                                    cudaStream_t stream) {
  if (!valid(shape)) return cudaErrorInvalidValue;
  const int64_t width = static_cast<int64_t>(shape.groups) * shape.n;
  const int64_t partial_rows = gated_rms_norm_dw_partial_rows(shape), run = tokens_per_block(shape);
  if (partial_rows > 0) {
    const dim3 grid(static_cast<unsigned>(partial_rows), static_cast<unsigned>(shape.groups));
    const cudaError_t err = with_slots(shape.n, [&](auto slots) {
      gated_rms_norm_backward_kernel<Z, Out, decltype(slots)::value>
          <<<grid, kThreads, 0, stream>>>(d_out, y, z, w, rstd, dy, dz, dw_partial, shape, run);
      return cudaGetLastError();
    });
    if (err != cudaSuccess) return err;
  }
  sum_partial_rows_kernel<<<static_cast<unsigned>((width + kThreads - 1) / kThreads), kThreads, 0, stream>>>(
      dw_partial, dw, partial_rows, width);
  return cudaGetLastError();
}

#define HETERO_GATED_RMS_NORM_INSTANTIATE(Z, Out)                                                              \
  template cudaError_t gated_rms_norm_forward<Z, Out>(const float*, const Z*, const float*, Out*, float*,      \
                                                      const GatedRmsNormShape&, cudaStream_t);                 \
  template cudaError_t gated_rms_norm_backward<Z, Out>(const Out*, const float*, const Z*, const float*,       \
                                                       const float*, float*, Z*, float*, float*,               \
                                                       const GatedRmsNormShape&, cudaStream_t);
HETERO_GATED_RMS_NORM_INSTANTIATE(float, float)
HETERO_GATED_RMS_NORM_INSTANTIATE(float, __nv_bfloat16)
HETERO_GATED_RMS_NORM_INSTANTIATE(__nv_bfloat16, float)
HETERO_GATED_RMS_NORM_INSTANTIATE(__nv_bfloat16, __nv_bfloat16)
#undef HETERO_GATED_RMS_NORM_INSTANTIATE

}  // namespace hetero
