#include "kernels/squared_relu_launch.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/squared_relu_cuda.h"

namespace hetero {
namespace {

__nv_bfloat16* bf16(const at::Tensor& t) { return reinterpret_cast<__nv_bfloat16*>(t.data_ptr<at::BFloat16>()); }

void check(const at::Tensor& t, const char* what) {
  TORCH_CHECK(t.is_cuda() && t.scalar_type() == at::kBFloat16 && t.is_contiguous() && t.numel() % 8 == 0,
              "squared_relu on CUDA: ", what, " must be a contiguous bf16 CUDA tensor with a multiple of 8 elements, got ",
              t.scalar_type(), " ", t.sizes(), " on ", t.device());
}

}  // namespace

at::Tensor squared_relu_forward_cuda(const at::Tensor& u) {
  check(u, "u");
  const c10::cuda::CUDAGuard guard(u.device());
  at::Tensor h = at::empty_like(u);
  const cudaError_t err = squared_relu_forward(bf16(u), bf16(h), u.numel(), at::cuda::getCurrentCUDAStream());
  TORCH_CHECK(err == cudaSuccess, "squared_relu forward kernel: ", cudaGetErrorString(err));
  return h;
}

at::Tensor squared_relu_backward_cuda(const at::Tensor& dh, const at::Tensor& u) {
  check(u, "u");
  check(dh, "dh");
  TORCH_CHECK(dh.sizes() == u.sizes(), "squared_relu backward on CUDA: dh ", dh.sizes(), " and u ", u.sizes(),
              " must be alike");
  const c10::cuda::CUDAGuard guard(u.device());
  at::Tensor du = at::empty_like(u);
  const cudaError_t err =
      squared_relu_backward(bf16(dh), bf16(u), bf16(du), u.numel(), at::cuda::getCurrentCUDAStream());
  TORCH_CHECK(err == cudaSuccess, "squared_relu backward kernel: ", cudaGetErrorString(err));
  return du;
}

}  // namespace hetero
