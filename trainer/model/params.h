// Named parameters with topology-independent initialisation (design §4):
// element i of a parameter's full tensor is a pure function of (seed, name,
// i), and each rank draws only the elements of its tensor-parallel shard.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include <ATen/ATen.h>

#include "dist/comm.h"

namespace hetero {

struct Param {
  std::string name;
  at::Tensor value;       // this rank's shard, requires grad
  int tp_shard_dim = -1;  // -1: replicated on every tp rank
  // This rank holds chunk `shard` of `shards` equal chunks along
  // tp_shard_dim (over tp, or over etp for MoE experts): what a checkpoint
  // loader slices out of the full tensor.
  int shards = 1, shard = 0;
  bool decay = true;      // weight decay applies (not for norms)
  // Where the gradient is summed (and optimizer state sharded): null for the
  // module's dp group; MoE experts name their expert-data-parallel group,
  // and every element of theirs is distinct within it (design §7 step 4).
  const Group* expert_dp = nullptr;
};

enum class Init { Normal, Ones };

// The shard `shard` of `shards` equal chunks along `shard_dim` (-1: the whole
// tensor) of the tensor of global shape `shape` whose element i (row-major
// global index) is std * CounterRng(key).normal(i); fp32, on the CPU (host
// threads over large tensors; the same values whatever the split). Drawn on
// the host, not by a GPU kernel, so that the values stay bit-identical:
// CUDA's log and cos may differ from the C library's by an ulp.
at::Tensor normal_shard(std::uint64_t key, const std::vector<int64_t>& shape, int shard_dim, int shards, int shard,
                        double std);

// The part of the VLM a parameter belongs to, as train.freeze names them
// (kFreezableParts): "vision" (encoder.*), "projector" (projector.*) or "llm".
std::string model_part(const std::string& param_name);

// Compute-dtype (bf16) copies of fp32 master weights, made once per change
// of the master instead of a cast at every use: a copy is remade when the
// master's version counter moved (the optimizer's in-place step, a
// checkpoint load), i.e. once per optimizer step. Gradients reach the
// master in fp32, as through a cast. Where the master already has the
// compute dtype (fp32 on the CPU) it is used as is.
class ComputeWeights {
 public:
  explicit ComputeWeights(at::ScalarType dtype) : dtype_(dtype) {}
  at::ScalarType dtype() const { return dtype_; }
  // `master` in the compute dtype; differentiable.
  at::Tensor operator()(const at::Tensor& master) const;
  // Masters of one shape stacked along a new dim 0 (MoE experts), in the
  // compute dtype; differentiable. Where accumulates_in_gemm (CUDA), its
  // backward adds the gradient into the masters' fp32 .grad itself, which
  // it keeps as slices of one [E, ...] buffer (one add per stack).
  at::Tensor stacked(const std::vector<at::Tensor>& masters) const;
  // The cached copy alone, outside autograd, for code that computes the
  // master's gradient itself.
  at::Tensor copy(const at::Tensor& master) const;

  // x @ master^T (+ bias, the bias's fp32 master, undefined for none), x in
  // the compute dtype with any leading dims; differentiable. Where
  // accumulates_in_gemm(master), the weight's gradient never exists in the
  // compute dtype: the GEMM that makes it adds it to master.grad in fp32
  // (Megatron's gradient-accumulation fusion), instead of a bf16 gradient
  // that is cast and then added (two more passes over every weight per
  // backward); the bias's gradient, its fp32 column sums, is added to
  // bias.grad the same way (accumulate_bias_grad). Elsewhere it is
  // at::linear through (*this)(master) and (*this)(bias).
  at::Tensor linear(const at::Tensor& x, const at::Tensor& master, const at::Tensor& bias = {}) const;
  // The same with the masters (one input width) stacked along the output
  // dim, e.g. q, k and v as one GEMM. `biases`: none, or one per master,
  // where an undefined one stands for zero rows without a parameter (the
  // encoder's key).
  at::Tensor linear(const at::Tensor& x, const std::vector<at::Tensor>& masters,
                    const std::vector<at::Tensor>& biases = {}) const;
  // CUDA builds, a CUDA fp32 master with a 16-bit compute dtype, gradients
  // wanted: the case in which linear() accumulates in its GEMM.
  bool accumulates_in_gemm(const at::Tensor& master) const;

 private:
  struct Entry {
    std::vector<int64_t> versions;
    at::Tensor copy;
  };
  at::Tensor cached(const std::vector<at::Tensor>& masters, bool stack) const;
  // The biases of linear()'s stacked masters end to end in the compute
  // dtype, zeros for an undefined one; outside autograd.
  at::Tensor cached_biases(const std::vector<at::Tensor>& masters, const std::vector<at::Tensor>& biases) const;
  at::ScalarType dtype_;
  // By the (first defined) master's TensorImpl: single copies, stacks and
  // concatenated biases apart.
  mutable std::unordered_map<const void*, Entry> single_, stacks_, biases_;
};

// master.grad += grad_out^T @ input, by one GEMM with an fp32 result
// (grad_out [M, N] and input [M, K] in the compute dtype, master [N, K]
// fp32); creates master.grad where it is undefined. For the cases of
// ComputeWeights::accumulates_in_gemm (it throws elsewhere), from the
// backward of code that computes its weight's gradient itself.
void accumulate_weight_grad(const at::Tensor& master, const at::Tensor& grad_out, const at::Tensor& input);

// A bias's gradient, the column sums of grad_out [M, N], in grad_out's
// dtype: on CUDA the column-sum kernel (kernels/column_sums.cu: one read of
// grad_out, fp32 sums), where it takes the shape, else a GEMM of a row of
// ones with grad_out; elsewhere grad_out.sum(0), the reference.
at::Tensor bias_grad(const at::Tensor& grad_out);

// The column sums of grad_out [M, N] in fp32 whatever its dtype (on CUDA the
// column-sum kernel where it takes the shape).
at::Tensor bias_grad_fp32(const at::Tensor& grad_out);

// master.grad += grad (fp32 [N], e.g. a slice of bias_grad_fp32's sums) for
// an fp32 bias master [N]; creates master.grad where it is undefined. For
// backward passes that add their parameters' gradients themselves
// (ComputeWeights::linear where it accumulates in its GEMM).
void accumulate_bias_grad(const at::Tensor& master, const at::Tensor& grad);

class ParamSet {
 public:
  ParamSet(std::uint64_t seed, int tp_rank, int tp_size, at::Device device)
      : seed_(seed), tp_rank_(tp_rank), tp_size_(tp_size), device_(device) {}

  // Creates `name` with global shape `shape`, sharded along `tp_shard_dim`.
  at::Tensor add(const std::string& name, std::vector<int64_t> shape, int tp_shard_dim, Init init,
                 double std = 0.02);

  std::vector<Param>& params() { return params_; }
  const std::vector<Param>& params() const { return params_; }
  // Parameter count of the full (unsharded) model.
  std::int64_t full_numel() const { return full_numel_; }

 private:
  std::uint64_t seed_;
  int tp_rank_, tp_size_;
  at::Device device_;
  std::vector<Param> params_;
  std::int64_t full_numel_ = 0;
};

}  // namespace hetero
