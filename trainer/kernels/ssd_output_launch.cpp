#include "kernels/ssd_output_launch.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/element_ptr.h"
#include "kernels/ssd_output_cuda.h"

namespace hetero {
namespace {

const float* optional_f32(const at::Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; }

void check(cudaError_t err, const char* what) { TORCH_CHECK(err == cudaSuccess, what, ": ", cudaGetErrorString(err)); }

// Zeros where the padded tail (t >= length) gets no gradient from the kernel; else uninitialised.
at::Tensor gradient_buffer(at::IntArrayRef sizes, const at::TensorOptions& options, const SsdOutputShape& s) {
  return s.length == s.chunks * s.chunk ? at::empty(sizes, options) : at::zeros(sizes, options);
}

}  // namespace

at::Tensor ssd_output_cuda(const at::Tensor& y_intra, const at::Tensor& y_inter, const at::Tensor& a_cum,
                           const at::Tensor& x, const at::Tensor& D, const SsdOutputShape& shape) {
  const c10::cuda::CUDAGuard guard(x.device());
  at::Tensor out = at::empty({shape.batch, shape.length, shape.heads(), shape.head_dim}, a_cum.options());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  check(dispatch_element(x.scalar_type(),
                         [&](auto e) {
                           using E = decltype(e);
                           return ssd_output_forward(E::ptr(y_intra), E::ptr(y_inter), a_cum.data_ptr<float>(),
                                                     E::ptr(x), optional_f32(D), out.data_ptr<float>(), shape, stream);
                         }),
        "ssd_output forward kernel");
  return out;
}

SsdOutputGrads ssd_output_backward_cuda(const at::Tensor& dy, const at::Tensor& y_inter, const at::Tensor& a_cum,
                                        const at::Tensor& x, const at::Tensor& D, const at::Tensor& dx,
                                        const SsdOutputShape& shape) {
  const c10::cuda::CUDAGuard guard(x.device());
  SsdOutputGrads g;
  const auto mm = x.options();
  g.d_y_intra = gradient_buffer(
      {shape.batch, shape.chunks, shape.groups, shape.heads_per_group, shape.chunk, shape.head_dim}, mm, shape);
  g.d_y_inter = gradient_buffer(y_inter.sizes(), y_inter.options(), shape);
  g.d_a_cum = gradient_buffer(a_cum.sizes(), a_cum.options(), shape);
  g.dx = dx;
  const at::Tensor dD_rows =
      D.defined() ? at::empty({shape.batch * shape.length, shape.heads()}, a_cum.options()) : at::Tensor();
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  check(dispatch_element(x.scalar_type(),
                         [&](auto e) {
                           using E = decltype(e);
                           return ssd_output_backward(dy.data_ptr<float>(), E::ptr(y_inter), a_cum.data_ptr<float>(),
                                                      E::ptr(x), optional_f32(D), E::ptr(g.d_y_intra),
                                                      E::ptr(g.d_y_inter), g.d_a_cum.data_ptr<float>(), E::ptr(g.dx),
                                                      D.defined() ? dD_rows.data_ptr<float>() : nullptr, shape, stream);
                         }),
        "ssd_output backward kernel");
  if (D.defined()) g.dD = dD_rows.sum(0);
  return g;
}

}  // namespace hetero
