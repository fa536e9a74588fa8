#include "kernels/moe_routing_launch.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/element_ptr.h"
#include "kernels/moe_routing_cuda.h"

namespace hetero {
namespace {

const int64_t* indices(const at::Tensor& t) { return t.data_ptr<int64_t>(); }
float* f32(const at::Tensor& t) { return t.data_ptr<float>(); }

}  // namespace

at::Tensor moe_dispatch_cuda(const at::Tensor& x, const at::Tensor& order, const MoeRoutingShape& s) {
  const c10::cuda::CUDAGuard guard(x.device());
  at::Tensor rows = at::empty({s.slots(), s.hidden}, x.options());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const cudaError_t err = dispatch_element(x.scalar_type(), [&](auto e) {
    using E = decltype(e);
    return moe_dispatch_forward(E::ptr(x), indices(order), E::ptr(rows), s, stream);
  });
  TORCH_CHECK(err == cudaSuccess, "moe_dispatch forward kernel: ", cudaGetErrorString(err));
  return rows;
}

at::Tensor moe_dispatch_backward_cuda(const at::Tensor& d_rows, const at::Tensor& inverse, const MoeRoutingShape& s) {
  const c10::cuda::CUDAGuard guard(d_rows.device());
  at::Tensor dx = at::empty({s.tokens, s.hidden}, d_rows.options());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const cudaError_t err = dispatch_element(d_rows.scalar_type(), [&](auto e) {
    using E = decltype(e);
    return moe_dispatch_backward(E::ptr(d_rows), indices(inverse), E::ptr(dx), s, stream);
  });
  TORCH_CHECK(err == cudaSuccess, "moe_dispatch backward kernel: ", cudaGetErrorString(err));
  return dx;
}

at::Tensor moe_combine_cuda(const at::Tensor& sorted, const at::Tensor& inverse, const at::Tensor& weights,
                            const MoeRoutingShape& s) {
  const c10::cuda::CUDAGuard guard(sorted.device());
  at::Tensor y = at::empty({s.tokens, s.hidden}, sorted.options().dtype(at::kFloat));
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const cudaError_t err = dispatch_element(sorted.scalar_type(), [&](auto e) {
    using E = decltype(e);
    return moe_combine_forward(E::ptr(sorted), indices(inverse), f32(weights), f32(y), s, stream);
  });
  TORCH_CHECK(err == cudaSuccess, "moe_combine forward kernel: ", cudaGetErrorString(err));
  return y;
}

std::pair<at::Tensor, at::Tensor> moe_combine_backward_cuda(const at::Tensor& dy, const at::Tensor& sorted,
                                                            const at::Tensor& inverse, const at::Tensor& weights,
                                                            const MoeRoutingShape& s) {
  const c10::cuda::CUDAGuard guard(sorted.device());
  at::Tensor d_sorted = at::empty_like(sorted), d_weights = at::empty_like(weights);
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const cudaError_t err = dispatch_element(sorted.scalar_type(), [&](auto e) {
    using E = decltype(e);
    return moe_combine_backward(f32(dy), E::ptr(sorted), indices(inverse), f32(weights), E::ptr(d_sorted),
                                f32(d_weights), s, stream);
  });
  TORCH_CHECK(err == cudaSuccess, "moe_combine backward kernel: ", cudaGetErrorString(err));
  return {d_sorted, d_weights};
}

}  // namespace hetero
