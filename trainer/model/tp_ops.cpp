#include "model/tp_ops.h"

#include <stdexcept>
#include <string>

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

// Every rank's x [B, L, ...] joined along dim 1 in rank order.
at::Tensor all_gather_dim1(const at::Tensor& x, const Group& g) { return at::cat(all_gather(g, x), 1); }

at::Tensor my_slice(const at::Tensor& x, const Group& g) {
  const int64_t len = x.size(1) / g.size();
  return x.narrow(1, g.rank * len, len).contiguous();
}

struct SplitSequences : torch::autograd::Function<SplitSequences> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const Group* g) {
    ctx->saved_data["group"] = reinterpret_cast<int64_t>(g);
    return my_slice(x, *g);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {all_gather_dim1(grads[0], *group_from(ctx)), at::Tensor()};
  }
};

struct GatherSequences : torch::autograd::Function<GatherSequences> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& y, const Group* g) {
    ctx->saved_data["group"] = reinterpret_cast<int64_t>(g);
    return all_gather_dim1(y, *g);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {my_slice(grads[0], *group_from(ctx)), at::Tensor()};
  }
};

}  // namespace

at::Tensor split_sequences_to_tp(const at::Tensor& x, const Group& tp) {
  if (tp.size() == 1) return x;
  if (x.size(1) % tp.size() != 0)
    throw std::invalid_argument("sequence length " + std::to_string(x.size(1)) + " cannot be split over tp=" +
                                std::to_string(tp.size()) + "; choose a seq_length that tp divides");
  return SplitSequences::apply(x, &tp);
}

at::Tensor gather_sequences_from_tp(const at::Tensor& y, const Group& tp) {
  if (tp.size() == 1) return y;
  return GatherSequences::apply(y, &tp);
}

at::Tensor enter_tp_region(const at::Tensor& x, const Group& tp) {
  if (tp.size() == 1) return x;
  return EnterTpRegion::apply(x, &tp);
}

at::Tensor leave_tp_region(const at::Tensor& x, const Group& tp) {
  if (tp.size() == 1) return x;
  return LeaveTpRegion::apply(x, &tp);
}

}  // namespace hetero
