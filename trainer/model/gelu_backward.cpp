#include "model/gelu_backward.h"

#include <cstdint>

#include "kernels/gelu_math.h"
#ifdef HETERO_WITH_CUDA
#include "kernels/gelu_backward_launch.h"
#endif

namespace hetero {
namespace {

bool aligned16(const at::Tensor& t) { return reinterpret_cast<std::uintptr_t>(t.data_ptr()) % 16 == 0; }

// The CPU loop, in fp32 whatever the dtype (as the kernel computes), rounded to u's dtype once.
GeluBackward loop_cpu(const at::Tensor& dh, const at::Tensor& u) {
  const at::Tensor dh32 = dh.to(at::kFloat).contiguous(), u32 = u.to(at::kFloat).contiguous();
  at::Tensor du = at::empty_like(u32), h = at::empty_like(u32);
  const float *dp = dh32.data_ptr<float>(), *up = u32.data_ptr<float>();
  float *dup = du.data_ptr<float>(), *hp = h.data_ptr<float>();
  for (int64_t i = 0; i < u32.numel(); ++i) {
    dup[i] = dp[i] * gelu_erf_grad(up[i]);
    hp[i] = gelu_erf(up[i]);
  }
  return {du.to(u.scalar_type()), h.to(u.scalar_type())};
}

}  // namespace

bool gelu_backward_kernel_supports(const at::Tensor& dh, const at::Tensor& u) {
  return u.is_cuda() && dh.is_cuda() && u.scalar_type() == at::kBFloat16 && dh.scalar_type() == at::kBFloat16 &&
         dh.sizes() == u.sizes() && u.is_contiguous() && dh.is_contiguous() && u.numel() % 8 == 0 && aligned16(u) &&
         aligned16(dh);
}

GeluBackward gelu_backward_with_activation(const at::Tensor& dh, const at::Tensor& u) {
  TORCH_CHECK(dh.sizes() == u.sizes() && dh.scalar_type() == u.scalar_type(), "gelu_backward_with_activation: dh ",
              dh.sizes(), " ", dh.scalar_type(), " and u ", u.sizes(), " ", u.scalar_type(), " must be alike");
  if (u.is_cuda()) {
    TORCH_CHECK(gelu_backward_kernel_supports(dh, u), "gelu_backward_with_activation on CUDA: u ", u.sizes(), " ",
                u.scalar_type(), " is not bf16, contiguous, aligned and a multiple of 8 elements; use ATen's "
                "gelu_backward there");
#ifdef HETERO_WITH_CUDA
    const auto [du, h] = gelu_backward_with_activation_cuda(dh, u);
    return {du, h};
#endif
  }
  return loop_cpu(dh, u);
}

}  // namespace hetero
