#include "model/tp_ops.h"

#include <stdexcept>
#include <string>
#include <vector>

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

// The sum over g of every rank's x [B, S, ...], this rank's [B, S/g, ...]
// slice of it.
at::Tensor reduce_scatter_dim1(const at::Tensor& x, const Group& g) {
  std::vector<int64_t> blocks = x.sizes().vec();  // [B, g, S/g, ...]
  blocks[1] = x.size(1) / g.size();
  blocks.insert(blocks.begin() + 1, g.size());
  const at::Tensor rank_major = x.reshape(blocks).transpose(0, 1).contiguous();  // [g, B, S/g, ...]
  return reduce_scatter(g, rank_major).squeeze(0);
}

struct GatherFromSequenceParallel : torch::autograd::Function<GatherFromSequenceParallel> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const Group* g) {
    ctx->saved_data["group"] = reinterpret_cast<int64_t>(g);
    return all_gather_dim1(x, *g);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {reduce_scatter_dim1(grads[0], *group_from(ctx)), at::Tensor()};
  }
};

struct ReduceScatterToSequenceParallel : torch::autograd::Function<ReduceScatterToSequenceParallel> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& y, const Group* g) {
    ctx->saved_data["group"] = reinterpret_cast<int64_t>(g);
    return reduce_scatter_dim1(y, *g);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {all_gather_dim1(grads[0], *group_from(ctx)), at::Tensor()};
  }
};

void check_splits(const at::Tensor& x, const Group& tp) {
  if (x.size(1) % tp.size() != 0)
    throw std::invalid_argument("sequence length " + std::to_string(x.size(1)) + " cannot be split over tp=" +
                                std::to_string(tp.size()) + "; choose a seq_length that tp divides");
}

}  // namespace

at::Tensor gather_from_sequence_parallel(const at::Tensor& x, const Group& tp) {
  if (tp.size() == 1) return x;
  return GatherFromSequenceParallel::apply(x, &tp);
}

at::Tensor reduce_scatter_to_sequence_parallel(const at::Tensor& y, const Group& tp) {
  if (tp.size() == 1) return y;
  check_splits(y, tp);
  return ReduceScatterToSequenceParallel::apply(y, &tp);
}

at::Tensor split_sequences_to_tp(const at::Tensor& x, const Group& tp) {
  if (tp.size() == 1) return x;
  check_splits(x, tp);
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

at::Tensor enter_tp_region(const at::Tensor& x, const Group& tp, bool sequence_parallel) {
  return sequence_parallel ? gather_from_sequence_parallel(x, tp) : enter_tp_region(x, tp);
}

at::Tensor leave_tp_region(const at::Tensor& y, const Group& tp, bool sequence_parallel) {
  return sequence_parallel ? reduce_scatter_to_sequence_parallel(y, tp) : leave_tp_region(y, tp);
}

at::Tensor replicated_weight(const at::Tensor& w, const Group& tp, bool sequence_parallel) {
  return sequence_parallel ? enter_tp_region(w, tp) : w;
}

}  // namespace hetero
