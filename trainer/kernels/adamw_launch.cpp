#include "kernels/adamw_launch.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/adamw_cuda.h"

namespace hetero {

void adamw_step_cuda(at::Tensor& w, const at::Tensor& g, at::Tensor& m, at::Tensor& v, const at::Tensor& decay_mask,
                     const AdamWScalars& s) {
  const c10::cuda::CUDAGuard guard(w.device());
  const bool* mask = decay_mask.defined() ? decay_mask.data_ptr<bool>() : nullptr;
  const cudaError_t err = adamw_step_fp32(w.data_ptr<float>(), g.data_ptr<float>(), m.data_ptr<float>(),
                                          v.data_ptr<float>(), mask, w.numel(), s, at::cuda::getCurrentCUDAStream());
  TORCH_CHECK(err == cudaSuccess, "adamw kernel: ", cudaGetErrorString(err));
}

}  // namespace hetero
