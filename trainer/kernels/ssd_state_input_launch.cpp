#include "kernels/ssd_state_input_launch.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/ssd_state_input_cuda.h"

namespace hetero {
namespace {

template <typename T>
T* ptr(const at::Tensor& t);
template <>
float* ptr<float>(const at::Tensor& t) {
  return t.data_ptr<float>();
}
template <>
__nv_bfloat16* ptr<__nv_bfloat16>(const at::Tensor& t) {
  return reinterpret_cast<__nv_bfloat16*>(t.data_ptr<at::BFloat16>());
}

// f(T{}) for x's dtype: fp32 or bf16 (the caller checked which).
template <typename F>
cudaError_t dispatch(at::ScalarType dtype, F&& f) {
  if (dtype == at::kBFloat16) return f(__nv_bfloat16());
  return f(float());
}

}  // namespace

at::Tensor ssd_state_input_cuda(const at::Tensor& x, const at::Tensor& to_end, const SsdStateInputShape& s) {
  const c10::cuda::CUDAGuard guard(x.device());
  at::Tensor weighted =
      at::empty({s.batch, s.chunks, s.groups, s.chunk, s.heads_per_group * s.head_dim}, x.options());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const cudaError_t err = dispatch(x.scalar_type(), [&](auto t) {
    using T = decltype(t);
    return ssd_state_input_forward<T>(ptr<T>(x), to_end.data_ptr<float>(), ptr<T>(weighted), s, stream);
  });
  TORCH_CHECK(err == cudaSuccess, "ssd_state_input forward kernel: ", cudaGetErrorString(err));
  return weighted;
}

std::pair<at::Tensor, at::Tensor> ssd_state_input_backward_cuda(const at::Tensor& d_weighted, const at::Tensor& x,
                                                                const at::Tensor& to_end,
                                                                const SsdStateInputShape& s) {
  const c10::cuda::CUDAGuard guard(x.device());
  at::Tensor dx = at::empty({s.batch, s.length, s.groups * s.heads_per_group, s.head_dim}, x.options());
  at::Tensor d_to_end = at::empty_like(to_end);
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const cudaError_t err = dispatch(x.scalar_type(), [&](auto t) {
    using T = decltype(t);
    return ssd_state_input_backward<T>(ptr<T>(d_weighted), ptr<T>(x), to_end.data_ptr<float>(), ptr<T>(dx),
                                       d_to_end.data_ptr<float>(), s, stream);
  });
  TORCH_CHECK(err == cudaSuccess, "ssd_state_input backward kernel: ", cudaGetErrorString(err));
  return {dx, d_to_end};
}

}  // namespace hetero
