#include "kernels/gated_rms_norm_launch.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/gated_rms_norm_cuda.h"
#include "kernels/element_ptr.h"
#include "kernels/gradient_output.h"

namespace hetero {
namespace {

// The kernels' limits and layout; the shapes themselves were checked by the
// caller. Without a gate (z undefined) the rows are y's: one group.
GatedRmsNormShape shape_of(const at::Tensor& y, const at::Tensor& z, const at::Tensor& w, double eps) {
  const bool gated = z.defined();
  const int64_t n = gated ? z.size(2) : y.size(1);
  TORCH_CHECK(n <= kGatedRmsNormMaxRow, "gated_rms_norm on CUDA: ", n, " channels per group exceed the kernel's ",
              "limit of ", kGatedRmsNormMaxRow);
  TORCH_CHECK(y.is_cuda() && (!gated || z.is_cuda()) && w.is_cuda(),
              "gated_rms_norm on CUDA: y, z and w must all be on CUDA");
  TORCH_CHECK(y.is_contiguous() && w.is_contiguous(), "gated_rms_norm on CUDA: y and w must be contiguous");
  GatedRmsNormShape s;
  s.tokens = y.size(0);
  s.groups = gated ? static_cast<int>(z.size(1)) : 1;
  s.n = static_cast<int>(n);
  s.z_token_stride = gated ? z.stride(0) : 0;
  s.z_group_stride = gated ? z.stride(1) : 0;
  s.dz_token_stride = s.dz_group_stride = 0;
  s.eps = static_cast<float>(eps);
  return s;
}

// The gate's dtype for the kernels' template (fp32 stands in when there is none).
at::ScalarType gate_dtype(const at::Tensor& z) { return z.defined() ? z.scalar_type() : at::kFloat; }

template <typename Z>
auto gate_ptr(const at::Tensor& z) -> decltype(Z::ptr(z)) {
  return z.defined() ? Z::ptr(z) : nullptr;
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
  const cudaError_t err = dispatch_elements(gate_dtype(z), out_dtype, [&](auto zt, auto ot) {
    return gated_rms_norm_forward(f32(y), gate_ptr<decltype(zt)>(z), f32(w), decltype(ot)::ptr(out), f32(rstd), s,
                                  stream);
  });
  TORCH_CHECK(err == cudaSuccess, "gated_rms_norm forward kernel: ", cudaGetErrorString(err));
  return {out, rstd};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> gated_rms_norm_backward_cuda(const at::Tensor& d_out,
                                                                            const at::Tensor& y, const at::Tensor& z,
                                                                            const at::Tensor& w,
                                                                            const at::Tensor& rstd,
                                                                            const at::Tensor& dz_into) {
  GatedRmsNormShape s = shape_of(y, z, w, /*eps=*/0);
  TORCH_CHECK(d_out.is_cuda() && d_out.is_contiguous() && rstd.is_contiguous(),
              "gated_rms_norm backward on CUDA: d_out and rstd must be contiguous CUDA tensors");
  const c10::cuda::CUDAGuard guard(y.device());
  at::Tensor dy = at::empty_like(y), dw = at::empty_like(w);
  const at::Tensor dz = z.defined() ? gradient_output(dz_into, z, "gated_rms_norm backward on CUDA") : at::Tensor();
  if (dz.defined()) {
    s.dz_token_stride = dz.stride(0);
    s.dz_group_stride = dz.stride(1);
  }
  at::Tensor partial = at::empty({gated_rms_norm_dw_partial_rows(s), w.numel()}, w.options());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const cudaError_t err = dispatch_elements(gate_dtype(z), d_out.scalar_type(), [&](auto zt, auto ot) {
    using Z = decltype(zt);
    return gated_rms_norm_backward(decltype(ot)::ptr(d_out), f32(y), gate_ptr<Z>(z), f32(w), f32(rstd), f32(dy),
                                   gate_ptr<Z>(dz), f32(dw), f32(partial), s, stream);
  });
  TORCH_CHECK(err == cudaSuccess, "gated_rms_norm backward kernel: ", cudaGetErrorString(err));
  return {dy, dz, dw};
}

}  // namespace hetero
