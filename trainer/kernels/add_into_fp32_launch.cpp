#include "kernels/add_into_fp32_launch.h"

#include <cstdint>

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/add_into_fp32_cuda.h"

namespace hetero {
namespace {

bool aligned16(const at::Tensor& t) { return reinterpret_cast<std::uintptr_t>(t.data_ptr()) % 16 == 0; }

}  // namespace

bool add_into_fp32_kernel_supports(const at::Tensor& into, const at::Tensor& add) {
  return into.is_cuda() && add.device() == into.device() && into.scalar_type() == at::kFloat &&
         add.scalar_type() == at::kBFloat16 && into.sizes() == add.sizes() && into.is_contiguous() &&
         add.is_contiguous() && into.numel() % 8 == 0 && aligned16(into) && aligned16(add);
}

void add_into_fp32_cuda(at::Tensor& into, const at::Tensor& add) {
  TORCH_CHECK(add_into_fp32_kernel_supports(into, add), "add_into_fp32 on CUDA: into must be fp32 and add bf16, ",
              "alike, contiguous, 16-byte aligned, a multiple of 8 elements, got ", into.scalar_type(), " ",
              into.sizes(), " and ", add.scalar_type(), " ", add.sizes());
  const c10::cuda::CUDAGuard guard(into.device());
  const cudaError_t err =
      add_bf16_into_fp32(into.data_ptr<float>(), reinterpret_cast<const __nv_bfloat16*>(add.data_ptr<at::BFloat16>()),
                         into.numel(), at::cuda::getCurrentCUDAStream());
  TORCH_CHECK(err == cudaSuccess, "add_into_fp32 kernel: ", cudaGetErrorString(err));
}

}  // namespace hetero
