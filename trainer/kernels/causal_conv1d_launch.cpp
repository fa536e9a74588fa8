#include "kernels/causal_conv1d_launch.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/causal_conv1d_cuda.h"
#include "kernels/element_ptr.h"
#include "kernels/gradient_output.h"

namespace hetero {
namespace {

// The kernels' limits and layout; the shapes themselves were checked by the caller.
CausalConv1dShape shape_of(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                           const at::Tensor& cu_seqlens) {
  const int64_t kernel = weight.size(2);
  TORCH_CHECK(kernel >= 1 && kernel <= kCausalConv1dMaxKernel, "causal_conv1d_silu on CUDA: conv kernel K=", kernel,
              " exceeds the kernel's limit of ", kCausalConv1dMaxKernel);
  TORCH_CHECK(x.is_cuda() && weight.is_cuda() && bias.is_cuda() && cu_seqlens.is_cuda(),
              "causal_conv1d_silu on CUDA: x, weight, bias and cu_seqlens must all be on CUDA");
  TORCH_CHECK(weight.is_contiguous() && bias.is_contiguous() && cu_seqlens.is_contiguous() &&
                  cu_seqlens.scalar_type() == at::kLong,
              "causal_conv1d_silu on CUDA: weight and bias must be contiguous, cu_seqlens contiguous int64");
  CausalConv1dShape s;
  s.tokens = x.size(0);
  s.groups = static_cast<int>(x.size(1));
  s.width = static_cast<int>(x.size(2));
  s.kernel = static_cast<int>(kernel);
  s.x_token_stride = x.stride(0);
  s.x_group_stride = x.stride(1);
  s.dx_token_stride = s.dx_group_stride = 0;
  s.samples = cu_seqlens.numel() - 1;
  return s;
}

const float* f32(const at::Tensor& t) { return t.data_ptr<float>(); }
float* f32(at::Tensor& t) { return t.data_ptr<float>(); }

}  // namespace

at::Tensor causal_conv1d_silu_cuda(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                   const at::Tensor& cu_seqlens, at::ScalarType out_dtype) {
  const CausalConv1dShape s = shape_of(x, weight, bias, cu_seqlens);
  const c10::cuda::CUDAGuard guard(x.device());
  at::Tensor out = at::empty({s.tokens, static_cast<int64_t>(s.groups) * s.width}, x.options().dtype(out_dtype));
  const int64_t* cu = cu_seqlens.data_ptr<int64_t>();
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const cudaError_t err = dispatch_elements(x.scalar_type(), out_dtype, [&](auto xt, auto ot) {
    return causal_conv1d_silu_forward(decltype(xt)::ptr(x), f32(weight), f32(bias), cu, decltype(ot)::ptr(out), s,
                                      stream);
  });
  TORCH_CHECK(err == cudaSuccess, "causal_conv1d_silu forward kernel: ", cudaGetErrorString(err));
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> causal_conv1d_silu_backward_cuda(const at::Tensor& d_out,
                                                                                const at::Tensor& x,
                                                                                const at::Tensor& weight,
                                                                                const at::Tensor& bias,
                                                                                const at::Tensor& cu_seqlens,
                                                                                const at::Tensor& dx_into) {
  CausalConv1dShape s = shape_of(x, weight, bias, cu_seqlens);
  TORCH_CHECK(d_out.is_cuda() && d_out.is_contiguous(), "causal_conv1d_silu backward on CUDA: d_out must be a ",
              "contiguous CUDA tensor, got ", d_out.toString(), " of strides ", d_out.strides());
  const c10::cuda::CUDAGuard guard(x.device());
  const int64_t channels = static_cast<int64_t>(s.groups) * s.width;
  at::Tensor dx = gradient_output(dx_into, x, "causal_conv1d_silu backward on CUDA");
  s.dx_token_stride = dx.stride(0);
  s.dx_group_stride = dx.stride(1);
  at::Tensor partial =
      at::empty({causal_conv1d_partial_tiles(s.tokens), static_cast<int64_t>(s.kernel) + 1, channels},
                weight.options());
  const int64_t* cu = cu_seqlens.data_ptr<int64_t>();
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const cudaError_t err = dispatch_elements(x.scalar_type(), d_out.scalar_type(), [&](auto xt, auto ot) {
    using X = decltype(xt);
    return causal_conv1d_silu_backward(decltype(ot)::ptr(d_out), X::ptr(x), f32(weight), f32(bias), cu, X::ptr(dx),
                                       f32(partial), s, stream);
  });
  TORCH_CHECK(err == cudaSuccess, "causal_conv1d_silu backward kernel: ", cudaGetErrorString(err));
  // The tiles' shares summed in a fixed order: [K + 1, channels].
  const at::Tensor totals = partial.sum(0);
  at::Tensor dw = totals.narrow(0, 0, s.kernel).t().contiguous().view(weight.sizes());
  at::Tensor db = totals.select(0, s.kernel).contiguous();
  return {dx, dw, db};
}

}  // namespace hetero
