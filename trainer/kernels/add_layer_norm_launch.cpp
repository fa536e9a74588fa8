#include "kernels/add_layer_norm_launch.h"

#include <cstdint>

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/add_layer_norm_cuda.h"
#include "kernels/element_ptr.h"

namespace hetero {
namespace {

// The kernels' limits and layout; the shapes themselves were checked by the caller.
AddLayerNormShape shape_of(const at::Tensor& rows, double eps) {
  const int64_t n = rows.size(1);
  TORCH_CHECK(n > 0 && n <= kAddLayerNormMaxRow && n % kAddLayerNormRowMultiple == 0, "add_layer_norm on CUDA: ", n,
              " channels per row, the kernels take a multiple of ", kAddLayerNormRowMultiple, " up to ",
              kAddLayerNormMaxRow);
  AddLayerNormShape s;
  s.tokens = rows.size(0);
  s.n = static_cast<int>(n);
  s.eps = static_cast<float>(eps);
  return s;
}

// The kernels move 16-byte vectors: every tensor a contiguous CUDA tensor at a 16-byte aligned address.
void check_vector_access(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.is_cuda() && t.is_contiguous(), "add_layer_norm on CUDA: ", name, " must be a contiguous CUDA tensor");
  TORCH_CHECK(reinterpret_cast<std::uintptr_t>(t.data_ptr()) % 16 == 0, "add_layer_norm on CUDA: ", name,
              " must start at a 16-byte aligned address");
}

const float* f32(const at::Tensor& t) { return t.data_ptr<float>(); }
float* f32(at::Tensor& t) { return t.data_ptr<float>(); }

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> add_layer_norm_cuda(const at::Tensor& x,
                                                                               const at::Tensor& a,
                                                                               const at::Tensor& gamma,
                                                                               const at::Tensor& beta, double eps) {
  const AddLayerNormShape s = shape_of(x, eps);
  check_vector_access(x, "x");
  check_vector_access(a, "a");
  check_vector_access(gamma, "gamma");
  check_vector_access(beta, "beta");
  const c10::cuda::CUDAGuard guard(x.device());
  at::Tensor h = at::empty_like(x), y = at::empty_like(x);
  at::Tensor mean = at::empty({s.tokens}, gamma.options()), rstd = at::empty({s.tokens}, gamma.options());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const cudaError_t err = dispatch_element(x.scalar_type(), [&](auto t) {
    using T = decltype(t);
    return add_layer_norm_forward(T::ptr(x), T::ptr(a), f32(gamma), f32(beta), T::ptr(h), T::ptr(y), f32(mean),
                                  f32(rstd), s, stream);
  });
  TORCH_CHECK(err == cudaSuccess, "add_layer_norm forward kernel: ", cudaGetErrorString(err));
  return {h, y, mean, rstd};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> add_layer_norm_backward_cuda(const at::Tensor& dy,
                                                                            const at::Tensor& dh_in,
                                                                            const at::Tensor& h,
                                                                            const at::Tensor& gamma,
                                                                            const at::Tensor& mean,
                                                                            const at::Tensor& rstd) {
  const AddLayerNormShape s = shape_of(h, /*eps=*/0);
  check_vector_access(dy, "dy");
  if (dh_in.defined()) check_vector_access(dh_in, "dh_in");
  check_vector_access(h, "h");
  check_vector_access(gamma, "gamma");
  TORCH_CHECK(mean.is_contiguous() && rstd.is_contiguous(), "add_layer_norm backward on CUDA: mean and rstd must be ",
              "contiguous");
  const c10::cuda::CUDAGuard guard(h.device());
  at::Tensor dh = at::empty_like(h);
  at::Tensor d_gamma = at::empty_like(gamma), d_beta = at::empty_like(gamma);
  at::Tensor partial = at::empty({add_layer_norm_partial_rows(s.tokens), 2 * static_cast<int64_t>(s.n)},
                                 gamma.options());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const cudaError_t err = dispatch_element(h.scalar_type(), [&](auto t) {
    using T = decltype(t);
    return add_layer_norm_backward(T::ptr(dy), dh_in.defined() ? T::ptr(dh_in) : nullptr, T::ptr(h), f32(gamma),
                                   f32(mean), f32(rstd), T::ptr(dh), f32(d_gamma), f32(d_beta), f32(partial), s,
                                   stream);
  });
  TORCH_CHECK(err == cudaSuccess, "add_layer_norm backward kernel: ", cudaGetErrorString(err));
  return {dh, d_gamma, d_beta};
}

}  // namespace hetero
