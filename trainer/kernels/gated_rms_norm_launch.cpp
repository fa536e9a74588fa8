#include "kernels/gated_rms_norm_launch.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/gated_rms_norm_cuda.h"
#include "kernels/element_ptr.h"

namespace hetero {
namespace {

// The kernels' limits and layout; the shapes themselves were checked by the caller.
GatedRmsNormShape shape_of(const at::Tensor& y, const at::Tensor& z, const at::Tensor& w, double eps) {
  const int64_t n = z.size(2);
  TORCH_CHECK(n <= kGatedRmsNormMaxRow, "gated_rms_norm on CUDA: ", n, " channels per group exceed the kernel's ",
              "limit of ", kGatedRmsNormMaxRow);
  TORCH_CHECK(y.is_cuda() && z.is_cuda() && w.is_cuda(), "gated_rms_norm on CUDA: y, z and w must all be on CUDA");
  TORCH_CHECK(y.is_contiguous() && w.is_contiguous(), "gated_rms_norm on CUDA: y and w must be contiguous");
  GatedRmsNormShape s;
  s.tokens = z.size(0);
  s.groups = static_cast<int>(z.size(1));
  s.n = static_cast<int>(n);
  s.z_token_stride = z.stride(0);
  s.z_group_stride = z.stride(1);
  s.eps = static_cast<float>(eps);
  return s;
}

const float* f32(const at::Tensor& t) { return t.data_ptr<float>(); }
float* f32(at::Tensor& t) { return t.data_ptr<float>(); }

}  // namespace

std::tuple<at::Tensor, at::Tensor> gated_rms_norm_cuda(const at::Tensor& y, const at::Tensor& z, const at::Tensor& w,
                                                       double eps, at::ScalarType out_dtype) {
  const GatedRmsNormShape s = shape_of(y, z, w, eps);
  const c10::cuda::CUDAGuard guard(y.device());
  at::Tensor out = at::empty({s.tokens, static_cast<int64_t>(s.groups) * s.n}, y.options().dtype(out_dtype));
  at::Tensor rstd = at::empty({s.tokens, s.groups}, y.options());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const cudaError_t err = dispatch_elements(z.scalar_type(), out_dtype, [&](auto zt, auto ot) {
    return gated_rms_norm_forward(f32(y), decltype(zt)::ptr(z), f32(w), decltype(ot)::ptr(out), f32(rstd), s, stream);
  });
  TORCH_CHECK(err == cudaSuccess, "gated_rms_norm forward kernel: ", cudaGetErrorString(err));
  return {out, rstd};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> gated_rms_norm_backward_cuda(const at::Tensor& d_out,
                                                                            const at::Tensor& y, const at::Tensor& z,
                                                                            const at::Tensor& w,
                                                                            const at::Tensor& rstd) {
  const GatedRmsNormShape s = shape_of(y, z, w, /*eps=*/0);
  TORCH_CHECK(d_out.is_cuda() && d_out.is_contiguous() && rstd.is_contiguous(),
              "gated_rms_norm backward on CUDA: d_out and rstd must be contiguous CUDA tensors");
  const c10::cuda::CUDAGuard guard(y.device());
  at::Tensor dy = at::empty_like(y), dw = at::empty_like(w);
  at::Tensor dz = at::empty(z.sizes(), z.options());  // contiguous, whatever z's strides
  at::Tensor partial = at::empty({gated_rms_norm_dw_partial_rows(s.tokens), w.numel()}, w.options());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const cudaError_t err = dispatch_elements(z.scalar_type(), d_out.scalar_type(), [&](auto zt, auto ot) {
    using Z = decltype(zt);
    return gated_rms_norm_backward(decltype(ot)::ptr(d_out), f32(y), Z::ptr(z), f32(w), f32(rstd), f32(dy),
                                   Z::ptr(dz), f32(dw), f32(partial), s, stream);
  });
  TORCH_CHECK(err == cudaSuccess, "gated_rms_norm backward kernel: ", cudaGetErrorString(err));
  return {dy, dz, dw};
}

}  // namespace hetero
