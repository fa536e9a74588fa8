#include "kernels/gelu_backward_launch.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/gelu_backward_cuda.h"

namespace hetero {
namespace {

__nv_bfloat16* bf16(const at::Tensor& t) { return reinterpret_cast<__nv_bfloat16*>(t.data_ptr<at::BFloat16>()); }

}  // namespace

std::tuple<at::Tensor, at::Tensor> gelu_backward_with_activation_cuda(const at::Tensor& dh, const at::Tensor& u) {
  TORCH_CHECK(dh.is_cuda() && u.is_cuda() && dh.scalar_type() == at::kBFloat16 && u.scalar_type() == at::kBFloat16,
              "gelu_backward on CUDA: dh and u must be bf16 CUDA tensors, got ", dh.scalar_type(), " and ",
              u.scalar_type());
  TORCH_CHECK(dh.sizes() == u.sizes() && dh.is_contiguous() && u.is_contiguous() && u.numel() % 8 == 0,
              "gelu_backward on CUDA: dh ", dh.sizes(), " and u ", u.sizes(),
              " must be alike, contiguous, with a multiple of 8 elements");
  const c10::cuda::CUDAGuard guard(u.device());
  at::Tensor du = at::empty_like(u), h = at::empty_like(u);
  const cudaError_t err = gelu_backward_with_activation(bf16(dh), bf16(u), bf16(du), bf16(h), u.numel(),
                                                        at::cuda::getCurrentCUDAStream());
  TORCH_CHECK(err == cudaSuccess, "gelu_backward kernel: ", cudaGetErrorString(err));
  return {du, h};
}

}  // namespace hetero
