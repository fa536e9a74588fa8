#include "kernels/column_sums_launch.h"

#include <cstdint>

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/column_sums_cuda.h"
#include "kernels/element_ptr.h"

namespace hetero {

bool column_sums_supported(const at::Tensor& x) {
  return x.is_cuda() && x.dim() == 2 && x.is_contiguous() &&
         (x.scalar_type() == at::kFloat || x.scalar_type() == at::kBFloat16) &&
         x.size(1) % kColumnSumsMultiple == 0 && reinterpret_cast<std::uintptr_t>(x.data_ptr()) % 16 == 0;
}

at::Tensor column_sums_cuda(const at::Tensor& x) {
  TORCH_CHECK(column_sums_supported(x), "column_sums_cuda: x must be a contiguous 2-D fp32 or bf16 CUDA tensor with ",
              "a multiple of ", kColumnSumsMultiple, " columns at a 16-byte aligned address, got ", x.scalar_type(),
              " ", x.sizes(), " on ", x.device());
  const int64_t rows = x.size(0), cols = x.size(1);
  const c10::cuda::CUDAGuard guard(x.device());
  const auto f32 = x.options().dtype(at::kFloat);
  at::Tensor out = at::empty({cols}, f32);
  const int64_t chunks = column_sums_chunks(rows, cols);
  at::Tensor partials = at::empty({chunks, cols}, f32);
  const cudaError_t err = dispatch_element(x.scalar_type(), [&](auto t) {
    using T = decltype(t);
    return column_sums(T::ptr(x), rows, cols, chunks, partials.data_ptr<float>(), out.data_ptr<float>(),
                       at::cuda::getCurrentCUDAStream());
  });
  TORCH_CHECK(err == cudaSuccess, "column_sums kernel: ", cudaGetErrorString(err));
  return out;
}

}  // namespace hetero
