#include "kernels/ssd_state_input_launch.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/element_ptr.h"
#include "kernels/ssd_state_input_cuda.h"

namespace hetero {
at::Tensor ssd_state_input_cuda(const at::Tensor& x, const at::Tensor& to_end, const SsdStateInputShape& s) {
  const c10::cuda::CUDAGuard guard(x.device());
  at::Tensor weighted = at::empty({s.batch, s.chunks, s.groups, s.chunk, s.heads_per_group * s.head_dim}, x.options());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const cudaError_t err = dispatch_element(x.scalar_type(), [&](auto e) {
    using E = decltype(e);
    return ssd_state_input_forward(E::ptr(x), to_end.data_ptr<float>(), E::ptr(weighted), s, stream);
  });
  TORCH_CHECK(err == cudaSuccess, "ssd_state_input forward kernel: ", cudaGetErrorString(err));
  return weighted;
}

at::Tensor ssd_state_input_backward_cuda(const at::Tensor& d_weighted, const at::Tensor& x, const at::Tensor& to_end,
                                         at::Tensor& dx, const SsdStateInputShape& s) {
  const c10::cuda::CUDAGuard guard(x.device());
  at::Tensor d_to_end = at::empty_like(to_end);
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const cudaError_t err = dispatch_element(x.scalar_type(), [&](auto e) {
    using E = decltype(e);
    return ssd_state_input_backward(E::ptr(d_weighted), E::ptr(x), to_end.data_ptr<float>(), E::ptr(dx),
                                    d_to_end.data_ptr<float>(), s, stream);
  });
  TORCH_CHECK(err == cudaSuccess, "ssd_state_input backward kernel: ", cudaGetErrorString(err));
  return d_to_end;
}

}  // namespace hetero
