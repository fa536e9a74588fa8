#include "model/squared_relu.h"

#include <cstdint>

#include <torch/csrc/autograd/custom_function.h>

#ifdef HETERO_WITH_CUDA
#include "kernels/squared_relu_launch.h"
#endif

namespace hetero {
namespace {

#ifdef HETERO_WITH_CUDA
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Saves u alone: the backward needs only its sign and value.
struct SquaredReluFunction : torch::autograd::Function<SquaredReluFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& u) {
    ctx->save_for_backward({u});
    return squared_relu_forward_cuda(u);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {squared_relu_backward(grads[0].contiguous(), ctx->get_saved_variables()[0])};
  }
};
#endif

}  // namespace

bool squared_relu_kernel_supports(const at::Tensor& u) {
#ifdef HETERO_WITH_CUDA
  return u.is_cuda() && u.scalar_type() == at::kBFloat16 && u.is_contiguous() && u.numel() % 8 == 0 &&
         reinterpret_cast<std::uintptr_t>(u.data_ptr()) % 16 == 0;
#else
  (void)u;
  return false;
#endif
}

at::Tensor squared_relu_backward(const at::Tensor& dh, const at::Tensor& u) {
#ifdef HETERO_WITH_CUDA
  if (squared_relu_kernel_supports(dh) && squared_relu_kernel_supports(u) && dh.sizes() == u.sizes())
    return squared_relu_backward_cuda(dh, u);
#endif
  return dh * (2 * at::relu(u));
}

at::Tensor squared_relu(const at::Tensor& u) {
#ifdef HETERO_WITH_CUDA
  if (squared_relu_kernel_supports(u)) return SquaredReluFunction::apply(u);
#endif
  return at::relu(u).pow(2);
}

}  // namespace hetero
