#include "model/tp_ops.h"

#include <torch/csrc/autograd/custom_function.h>

namespace hetero {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The group outlives every graph built during a step, so a raw pointer kept
// in the autograd context is safe.
const Group* group_from(AutogradContext* ctx) {
  return reinterpret_cast<const Group*>(ctx->saved_data["group"].toInt());
}

at::Tensor summed(const at::Tensor& t, const Group& g) {
  at::Tensor out = t.contiguous().clone();
  all_reduce_sum(g, out);
  return out;
}

struct EnterTpRegion : torch::autograd::Function<EnterTpRegion> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const Group* g) {
    ctx->saved_data["group"] = reinterpret_cast<int64_t>(g);
    return x.view_as(x);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {summed(grads[0], *group_from(ctx)), at::Tensor()};
  }
};

struct LeaveTpRegion : torch::autograd::Function<LeaveTpRegion> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const Group* g) {
    ctx->saved_data["group"] = reinterpret_cast<int64_t>(g);
    return summed(x, *g);
  }
  static variable_list backward(AutogradContext*, variable_list grads) { return {grads[0], at::Tensor()}; }
};

}  // namespace

at::Tensor enter_tp_region(const at::Tensor& x, const Group& tp) {
  if (tp.size() == 1) return x;
  return EnterTpRegion::apply(x, &tp);
}

at::Tensor leave_tp_region(const at::Tensor& x, const Group& tp) {
  if (tp.size() == 1) return x;
  return LeaveTpRegion::apply(x, &tp);
}

}  // namespace hetero
