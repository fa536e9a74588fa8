#include "model/params.h"

#include <algorithm>
#include <stdexcept>
#include <thread>

#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/custom_function.h>

#include "hetero/rng.h"
#ifdef HETERO_WITH_CUDA
#include "kernels/add_into_fp32_launch.h"
#include "kernels/column_sums_launch.h"
#endif

namespace hetero {

std::string model_part(const std::string& name) {
  auto starts = [&](const char* prefix) { return name.rfind(prefix, 0) == 0; };
  if (starts("encoder.")) return "vision";
  if (starts("projector.")) return "projector";
  if (starts("llm.")) return "llm";
  throw std::logic_error("parameter '" + name + "' belongs to no model part (encoder., projector., llm.)");
}

at::Tensor normal_shard(std::uint64_t key, const std::vector<int64_t>& shape, int shard_dim, int shards, int shard,
                        double std) {
  // The global tensor as [outer, D, inner] around the shard dim: the shard
  // is, for each outer index, one contiguous run of D / shards * inner
  // elements of the global order.
  int64_t outer = 1, dim = 1, inner = 1;
  for (int i = 0; i < static_cast<int>(shape.size()); ++i) {
    if (shard_dim < 0 || i < shard_dim)
      outer *= shape[i];
    else if (i == shard_dim)
      dim = shape[i];
    else
      inner *= shape[i];
  }
  if (shard_dim < 0) shards = 1, shard = 0;
  std::vector<int64_t> local_shape = shape;
  if (shard_dim >= 0) local_shape[shard_dim] /= shards;
  at::Tensor local = at::empty(local_shape, at::kFloat);
  const int64_t run = dim / shards * inner, skip = dim * inner, first = shard * run;
  float* out = local.data_ptr<float>();
  const CounterRng rng(key);
  auto fill = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const auto global = static_cast<std::uint64_t>(i / run * skip + first + i % run);
      out[i] = static_cast<float>(std * rng.normal(global));
    }
  };
  // Element values are a pure function of their global index: any split
  // over threads gives the same tensor. Large tensors use every core (the
  // trainer's intra-op pool may be one thread); small ones stay on this one.
  const int64_t total = outer * run;
  const int64_t threads =
      std::min<int64_t>(std::max(1u, std::thread::hardware_concurrency()), std::max<int64_t>(1, total >> 20));
  if (threads == 1) {
    fill(0, total);
    return local;
  }
  std::vector<std::thread> pool;
  for (int64_t t = 0; t < threads; ++t) pool.emplace_back(fill, total * t / threads, total * (t + 1) / threads);
  for (auto& th : pool) th.join();
  return local;
}

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The .grad of `masters` (alike, fp32) as one [E, ...] tensor, where they
// are consecutive slices of one contiguous buffer; else undefined.
at::Tensor grads_as_one(const variable_list& masters, at::IntArrayRef stack_sizes) {
  const at::Tensor& first = masters.front().grad();
  if (!first.defined()) return {};
  const int64_t n = first.numel();
  for (size_t i = 0; i < masters.size(); ++i) {
    const at::Tensor& g = masters[i].grad();
    if (!g.defined() || g.scalar_type() != at::kFloat || !g.is_contiguous() || g.sizes() != masters[i].sizes() ||
        g.storage().unsafeGetStorageImpl() != first.storage().unsafeGetStorageImpl() ||
        g.storage_offset() != first.storage_offset() + static_cast<int64_t>(i) * n)
      return {};
  }
  std::vector<int64_t> strides(stack_sizes.size(), 1);
  for (int64_t d = static_cast<int64_t>(stack_sizes.size()) - 2; d >= 0; --d)
    strides[d] = strides[d + 1] * stack_sizes[d + 1];
  return first.as_strided(stack_sizes, strides, first.storage_offset());
}

// master.grad += grad[i] (fp32 += the compute dtype, one mixed-dtype add)
// for every master i (all want a gradient: ComputeWeights::stacked). Their
// .grad are made slices of one [E, ...] fp32 buffer (once, keeping what they
// held), so that the whole stack is one add_: on CUDA bf16 one vectorized
// kernel (kernels/add_into_fp32.cu), the same sums.
void add_into_grads(const variable_list& masters, const at::Tensor& grad) {
  at::NoGradGuard no_grad;
  at::Tensor buffer = grads_as_one(masters, grad.sizes());
  if (!buffer.defined()) {
    buffer = at::zeros(grad.sizes(), masters.front().options());
    for (size_t i = 0; i < masters.size(); ++i) {
      at::Tensor& g = masters[i].mutable_grad();
      at::Tensor slice = buffer.select(0, static_cast<int64_t>(i));
      if (g.defined()) slice.copy_(g);
      g = slice;
    }
  }
#ifdef HETERO_WITH_CUDA
  if (add_into_fp32_kernel_supports(buffer, grad)) {
    add_into_fp32_cuda(buffer, grad);
    return;
  }
#endif
  buffer.add_(grad);
}

// Forward: the precomputed copy (the masters' values in the compute dtype,
// stacked or not); backward: the gradient cast back to each master's dtype
// (unstacked). With `into_grads` (a stack of CUDA fp32 masters and a 16-bit
// copy: ComputeWeights::accumulates_in_gemm) the backward instead adds the
// stack's gradient into the masters' fp32 .grad itself (add_into_grads) and
// returns none for them: a cast per expert and then autograd's add per
// expert made 4 kernels per expert, stack and backward (MoE layers of 128
// experts: a fifth of an H100 step), where this is one.
struct CachedCopy : torch::autograd::Function<CachedCopy> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& copy, at::TensorList masters, bool stack,
                            bool into_grads) {
    ctx->saved_data["stack"] = stack;
    ctx->saved_data["dtype"] = masters.front().scalar_type();
    ctx->saved_data["into_grads"] = into_grads;
    if (into_grads) ctx->save_for_backward(masters.vec());
    return copy;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto dtype = ctx->saved_data["dtype"].toScalarType();
    variable_list out{at::Tensor()};  // the copy: no gradient
    if (ctx->saved_data["into_grads"].toBool()) {
      const variable_list masters = ctx->get_saved_variables();
      if (grads[0].defined()) add_into_grads(masters, grads[0]);
      out.resize(1 + masters.size());  // already in master.grad
    } else if (ctx->saved_data["stack"].toBool()) {
      for (const at::Tensor& g : grads[0].unbind(0)) out.push_back(g.to(dtype));
    } else {
      out.push_back(grads[0].to(dtype));
    }
    out.push_back(at::Tensor());  // stack
    out.push_back(at::Tensor());  // into_grads
    return out;
  }
};

// x @ copy^T (+ bias, a compute-dtype copy) whose backward adds the weight
// gradients into the weight masters' fp32 .grad from the GEMM itself
// (accumulate_weight_grad) and the bias masters' from one fp32 column sum
// (accumulate_bias_grad), returning none for them; x gets its gradient as
// usual. `masters`: the weight masters, their rows side by side along the
// copy's output dim, then the bias masters, bias j's first output row at
// bias_rows[j]. The masters are inputs so that the output needs a gradient
// even where x does not.
struct LinearAccumulatingWeightGrad : torch::autograd::Function<LinearAccumulatingWeightGrad> {
  // The bias is optional rather than an undefined tensor: LibTorch 2.x
  // records a device for every tensor input of a Function.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& copy,
                            const c10::optional<at::Tensor>& bias, at::TensorList masters,
                            const std::vector<int64_t>& bias_rows) {
    variable_list saved{x, copy};
    saved.insert(saved.end(), masters.begin(), masters.end());
    ctx->save_for_backward(saved);
    ctx->saved_data["bias_rows"] = bias_rows;
    return bias ? at::linear(x, copy, *bias) : at::matmul(x, copy.t());
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list s = ctx->get_saved_variables();
    const at::Tensor &x = s[0], &copy = s[1];
    const std::vector<int64_t> bias_rows = ctx->saved_data["bias_rows"].toIntVector();
    const size_t weights = s.size() - 2 - bias_rows.size();
    const at::Tensor g2 = grads[0].reshape({-1, copy.size(0)});
    const at::Tensor x2 = x.reshape({-1, copy.size(1)});
    // x's gradient; none for the copy and the bias copy (outside autograd).
    variable_list out{ctx->needs_input_grad(0) ? at::matmul(grads[0], copy) : at::Tensor(), at::Tensor(),
                      at::Tensor()};
    int64_t row = 0;
    for (size_t i = 2; i < 2 + weights; ++i) {
      const at::Tensor& master = s[i];
      if (master.requires_grad()) accumulate_weight_grad(master, g2.narrow(1, row, master.size(0)), x2);
      row += master.size(0);
    }
    const auto biases = s.begin() + 2 + static_cast<std::ptrdiff_t>(weights);
    if (std::any_of(biases, s.end(), [](const at::Tensor& b) { return b.requires_grad(); })) {
      const at::Tensor sums = bias_grad_fp32(g2);
      for (size_t j = 0; j < bias_rows.size(); ++j) {
        const at::Tensor& b = biases[static_cast<std::ptrdiff_t>(j)];
        if (b.requires_grad()) accumulate_bias_grad(b, sums.narrow(0, bias_rows[j], b.size(0)));
      }
    }
    out.resize(out.size() + s.size() - 2);  // the masters: already in their .grad
    out.push_back(at::Tensor());            // bias_rows
    return out;
  }
};

// The biases of stacked masters end to end in `dtype`, each defined one
// through `copy`, zeros of its master's rows for an undefined one.
template <typename Copy>
at::Tensor biases_end_to_end(const std::vector<at::Tensor>& masters, const std::vector<at::Tensor>& biases,
                             at::ScalarType dtype, const Copy& copy) {
  std::vector<at::Tensor> parts;
  for (size_t i = 0; i < biases.size(); ++i)
    parts.push_back(biases[i].defined() ? copy(biases[i])
                                        : at::zeros({masters[i].size(0)}, masters[i].options().dtype(dtype)));
  return at::cat(parts);
}

}  // namespace

at::Tensor ComputeWeights::cached(const std::vector<at::Tensor>& masters, bool stack) const {
  std::vector<int64_t> versions;
  for (const at::Tensor& m : masters) versions.push_back(m._version());
  Entry& e = (stack ? stacks_ : single_)[masters.front().unsafeGetTensorImpl()];
  if (!e.copy.defined() || e.versions != versions) {
    at::NoGradGuard no_grad;
    if (stack) {
      std::vector<at::Tensor> parts;
      for (const at::Tensor& m : masters) parts.push_back(m.detach().to(dtype_));
      e.copy = at::stack(parts);
    } else {
      e.copy = masters.front().detach().to(dtype_);
    }
    e.versions = versions;
  }
  return e.copy;
}

at::Tensor ComputeWeights::operator()(const at::Tensor& master) const {
  if (master.scalar_type() == dtype_) return master;
  const at::Tensor c = cached({master}, false);
  const bool grad = master.requires_grad() && at::GradMode::is_enabled();
  return grad ? CachedCopy::apply(c, at::TensorList(master), false, false) : c;
}

at::Tensor ComputeWeights::stacked(const std::vector<at::Tensor>& masters) const {
  if (masters.front().scalar_type() == dtype_) return at::stack(masters);
  const at::Tensor c = cached(masters, true);
  const bool grad = at::GradMode::is_enabled() && masters.front().requires_grad();
  // On CUDA with a 16-bit copy the backward adds into the fp32 .grad itself
  // where every expert is trained; a partly frozen stack takes autograd's
  // per-expert path.
  const bool all = std::all_of(masters.begin(), masters.end(), [](const at::Tensor& m) { return m.requires_grad(); });
  return grad ? CachedCopy::apply(c, at::TensorList(masters), true, all && accumulates_in_gemm(masters.front())) : c;
}

at::Tensor ComputeWeights::copy(const at::Tensor& master) const {
  if (master.scalar_type() == dtype_) return master.detach();
  return cached({master}, false);
}

bool ComputeWeights::accumulates_in_gemm(const at::Tensor& master) const {
#ifdef HETERO_WITH_CUDA
  return master.is_cuda() && master.scalar_type() == at::kFloat &&
         (dtype_ == at::kBFloat16 || dtype_ == at::kHalf) && master.requires_grad() && at::GradMode::is_enabled();
#else
  (void)master;
  return false;
#endif
}

at::Tensor ComputeWeights::cached_biases(const std::vector<at::Tensor>& masters,
                                         const std::vector<at::Tensor>& biases) const {
  std::vector<int64_t> versions;
  const void* key = nullptr;
  for (const at::Tensor& b : biases) {
    if (!b.defined()) continue;
    versions.push_back(b._version());
    if (key == nullptr) key = b.unsafeGetTensorImpl();
  }
  Entry& e = biases_[key];
  if (!e.copy.defined() || e.versions != versions) {
    at::NoGradGuard no_grad;
    e.copy = biases_end_to_end(masters, biases, dtype_, [this](const at::Tensor& b) { return b.detach().to(dtype_); });
    e.versions = versions;
  }
  return e.copy;
}

namespace {

// The weight masters, then the defined biases, and each bias's first output
// row: LinearAccumulatingWeightGrad's masters and bias_rows.
std::pair<variable_list, std::vector<int64_t>> accumulated(const std::vector<at::Tensor>& masters,
                                                            const std::vector<at::Tensor>& biases) {
  variable_list all(masters.begin(), masters.end());
  std::vector<int64_t> rows;
  int64_t row = 0;
  for (size_t i = 0; i < biases.size(); ++i) {
    if (biases[i].defined()) all.push_back(biases[i]), rows.push_back(row);
    row += masters[i].size(0);
  }
  return {all, rows};
}

bool any_defined(const std::vector<at::Tensor>& ts) {
  return std::any_of(ts.begin(), ts.end(), [](const at::Tensor& t) { return t.defined(); });
}

}  // namespace

at::Tensor ComputeWeights::linear(const at::Tensor& x, const at::Tensor& master, const at::Tensor& bias) const {
  if (!accumulates_in_gemm(master))
    return bias.defined() ? at::linear(x, (*this)(master), (*this)(bias)) : at::matmul(x, (*this)(master).t());
  const std::vector<at::Tensor> biases = bias.defined() ? std::vector<at::Tensor>{bias} : std::vector<at::Tensor>{};
  const auto [all, rows] = accumulated({master}, biases);
  return LinearAccumulatingWeightGrad::apply(x, cached({master}, false),
                                             bias.defined() ? c10::make_optional(cached({bias}, false)) : c10::nullopt,
                                             at::TensorList(all), rows);
}

at::Tensor ComputeWeights::linear(const at::Tensor& x, const std::vector<at::Tensor>& masters,
                                  const std::vector<at::Tensor>& biases) const {
  if (!biases.empty() && biases.size() != masters.size())
    throw std::logic_error("ComputeWeights::linear: " + std::to_string(biases.size()) + " biases for " +
                           std::to_string(masters.size()) + " stacked weights (want none or one each)");
  const bool has_bias = any_defined(biases);
  if (!accumulates_in_gemm(masters.front())) {
    const at::Tensor w = stacked(masters).flatten(0, 1);
    if (!has_bias) return at::matmul(x, w.t());
    const auto differentiable = [this](const at::Tensor& b) { return (*this)(b); };
    return at::linear(x, w, biases_end_to_end(masters, biases, dtype_, differentiable));
  }
  const auto [all, rows] = accumulated(masters, has_bias ? biases : std::vector<at::Tensor>{});
  return LinearAccumulatingWeightGrad::apply(
      x, cached(masters, true).flatten(0, 1),
      has_bias ? c10::make_optional(cached_biases(masters, biases)) : c10::nullopt, at::TensorList(all), rows);
}

void accumulate_weight_grad(const at::Tensor& master, const at::Tensor& grad_out, const at::Tensor& input) {
#ifdef HETERO_WITH_CUDA
  at::Tensor& grad = master.mutable_grad();
  const at::Tensor grad_t = grad_out.t();
  if (grad.defined())
    at::addmm_out(grad, grad, grad_t, input, at::kFloat);
  else
    grad = at::mm(grad_t, input, at::kFloat);
#else
  (void)master, (void)grad_out, (void)input;
  throw std::logic_error("accumulate_weight_grad: a CUDA build's path (ComputeWeights::accumulates_in_gemm)");
#endif
}

at::Tensor bias_grad(const at::Tensor& grad_out) {
  if (!grad_out.is_cuda()) return grad_out.sum(0);
#ifdef HETERO_WITH_CUDA
  if (column_sums_supported(grad_out)) return column_sums_cuda(grad_out).to(grad_out.scalar_type());
#endif
  return at::mm(at::ones({1, grad_out.size(0)}, grad_out.options()), grad_out).squeeze(0);
}

at::Tensor bias_grad_fp32(const at::Tensor& grad_out) {
#ifdef HETERO_WITH_CUDA
  if (column_sums_supported(grad_out)) return column_sums_cuda(grad_out);
#endif
  return grad_out.sum({0}, /*keepdim=*/false, at::kFloat);
}

void accumulate_bias_grad(const at::Tensor& master, const at::Tensor& grad) {
  at::NoGradGuard no_grad;
  at::Tensor& g = master.mutable_grad();
  if (g.defined())
    g.add_(grad);
  else
    g = grad;
}

at::Tensor ParamSet::add(const std::string& name, std::vector<int64_t> shape, int tp_shard_dim, Init init,
                         double std) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  full_numel_ += n;
  const bool sharded = tp_shard_dim >= 0 && tp_size_ > 1;
  if (sharded && shape[tp_shard_dim] % tp_size_ != 0)
    throw std::invalid_argument("parameter " + name + ": dim " + std::to_string(tp_shard_dim) + " of size " +
                                std::to_string(shape[tp_shard_dim]) + " cannot be split over tp=" +
                                std::to_string(tp_size_));
  // Only this rank's shard is drawn: the same values as drawing the whole
  // tensor and slicing it (design §4), at 1/tp of the work.
  at::Tensor local;
  if (init == Init::Ones) {
    std::vector<int64_t> local_shape = shape;
    if (sharded) local_shape[tp_shard_dim] /= tp_size_;
    local = at::ones(local_shape, at::TensorOptions().dtype(at::kFloat).device(device_));
  } else {
    local = normal_shard(mix(seed_, hash_name(name)), shape, sharded ? tp_shard_dim : -1, tp_size_, tp_rank_, std)
                .to(device_);
  }
  local.set_requires_grad(true);
  Param p;
  p.name = name;
  p.value = local;
  p.decay = init != Init::Ones;
  if (sharded) {
    p.tp_shard_dim = tp_shard_dim;
    p.shards = tp_size_;
    p.shard = tp_rank_;
  }
  params_.push_back(p);
  return local;
}

}  // namespace hetero
