// One AdamW step over a tensor in one pass (math: adamw.h): a grid-stride
// loop reading w, g, m, v once and writing w, m, v once, where the ATen ops
// it replaces make eight passes.
#include "kernels/adamw_cuda.h"

#include "kernels/grid.h"

namespace hetero {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    adamw_kernel(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ m, float* __restrict__ v,
                 const bool* __restrict__ decay_mask, int64_t elements, AdamWScalars s) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < elements;
       i += static_cast<int64_t>(gridDim.x) * kThreads) {
    float wi = w[i], mi = m[i], vi = v[i];
    const float decay = decay_mask == nullptr || decay_mask[i] ? s.decay : 1.0f;
    adamw_element(wi, g[i], mi, vi, decay, s);
    w[i] = wi;
    m[i] = mi;
    v[i] = vi;
  }
}

}  // namespace

cudaError_t adamw_step_fp32(float* w, const float* g, float* m, float* v, const bool* decay_mask, int64_t elements,
                            const AdamWScalars& s, cudaStream_t stream) {
  if (elements == 0) return cudaSuccess;
  const int64_t blocks = grid_stride_blocks(elements, kThreads, 16);
  adamw_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(w, g, m, v, decay_mask, elements, s);
  return cudaGetLastError();
}

}  // namespace hetero
