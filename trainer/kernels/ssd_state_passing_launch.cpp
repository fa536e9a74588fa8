#include "kernels/ssd_state_passing_launch.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/element_ptr.h"
#include "kernels/ssd_state_passing_cuda.h"

namespace hetero {

at::Tensor ssd_state_passing_cuda(const at::Tensor& own, const at::Tensor& chunk_log, const SsdStatePassingShape& s) {
  const c10::cuda::CUDAGuard guard(own.device());
  at::Tensor entering = at::empty_like(own);
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const cudaError_t err = dispatch_element(own.scalar_type(), [&](auto e) {
    using E = decltype(e);
    return ssd_state_passing_forward(E::ptr(own), chunk_log.data_ptr<float>(), E::ptr(entering), s, stream);
  });
  TORCH_CHECK(err == cudaSuccess, "ssd_state_passing forward kernel: ", cudaGetErrorString(err));
  return entering;
}

std::pair<at::Tensor, at::Tensor> ssd_state_passing_backward_cuda(const at::Tensor& d_entering, const at::Tensor& own,
                                                                  const at::Tensor& chunk_log,
                                                                  const SsdStatePassingShape& s) {
  const c10::cuda::CUDAGuard guard(own.device());
  at::Tensor states = at::empty(own.sizes(), own.options().dtype(at::kFloat));  // scratch: the recomputed states
  at::Tensor d_own = at::empty_like(own);
  at::Tensor partial = at::empty({s.batch, s.chunks, s.heads(), ssd_state_passing_backward_slices(s)},
                                 chunk_log.options());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const cudaError_t err = dispatch_element(own.scalar_type(), [&](auto e) {
    using E = decltype(e);
    return ssd_state_passing_backward(E::ptr(d_entering), E::ptr(own), chunk_log.data_ptr<float>(),
                                      states.data_ptr<float>(), E::ptr(d_own), partial.data_ptr<float>(), s, stream);
  });
  TORCH_CHECK(err == cudaSuccess, "ssd_state_passing backward kernel: ", cudaGetErrorString(err));
  return {d_own, partial.sum(-1).view(chunk_log.sizes())};
}

}  // namespace hetero
