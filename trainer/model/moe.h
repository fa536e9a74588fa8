// Nemotron-H mixture of experts (design §6): a top-k router, squared-ReLU
// experts held by the ranks of an expert-parallel (EP) group and split in
// width over an expert-tensor-parallel (ETP) group, optional shared experts,
// and the per-sequence load-balancing loss.
//
// Routing (HF NemotronHMoE.route_tokens_to_experts, Megatron
// topk_routing_with_score_function), in fp32:
//   s = sigmoid(logits)  or  softmax(logits)            logits = x W_gate^T
//   chosen = top_k(s + e_score_correction_bias)          the bias picks experts only
//   w = s[chosen] (/ sum of them if normalize_topk) * scaling
//   y = sum_k w_k expert_{chosen_k}(x) + shared(x),   expert(x) = W2 relu(W1 x)^2
//
// Parallel contract: `x` holds this rank's tokens and no other rank of the
// EP x ETP group holds the same tokens (sequence parallel inside TP, or
// different data). Dropless dispatch, as Megatron's all-to-all dispatcher:
// tokens go to the EP rank holding their expert (expert e on EP rank
// e / (E / ep)), are all-gathered over ETP (each ETP rank holds a slice of
// every local expert's ffn width), and the partial outputs are
// reduce-scattered back over ETP and returned over EP. An expert's weights
// thus see the tokens of its whole EP x ETP group: their gradients are
// reduced over EDP only. Router and shared-expert weights are replicated:
// their gradients are reduced over every rank holding other tokens. With
// tokens replicated over TP (no sequence parallelism) the caller must give
// each TP rank a disjoint slice first, or experts would count tokens twice;
// it names that TP group as `token_split`: each sequence's tokens are then
// spread over its ranks (the same number of sequences on each, in the same
// order), router and shared-expert gradients are summed over it in backward,
// and the load-balancing loss counts each sequence whole.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "dist/comm.h"
#include "model/params.h"

namespace hetero {

enum class RouterScore { Sigmoid, Softmax };

struct MoeConfig {
  int64_t hidden = 0;
  int64_t expert_ffn = 0;   // moe_intermediate_size
  int64_t num_experts = 0;  // n_routed_experts
  int64_t top_k = 1;        // num_experts_per_tok
  RouterScore score = RouterScore::Sigmoid;
  bool normalize_topk = true;  // norm_topk_prob
  double scaling = 1.0;        // routed_scaling_factor
  int64_t shared_ffn = 0;      // moe_shared_expert_intermediate_size; 0: no shared expert
};

struct MoeOutput {
  at::Tensor y;  // [n, hidden], fp32
  // Per-sequence load-balancing loss of this rank's sequences, without its
  // coefficient (Megatron "seq_aux_loss", DeepSeek-V3 eq. 17-20): for each
  // sequence of T tokens,
  //   f_e = E / (K T) * #{t : e in top_k(p_t)},   P_e = 1/T sum_t p_{t,e},
  //   L_seq = sum_e f_e P_e,
  // with p the softmax scores, or the sigmoid scores normalised to sum 1 per
  // token; the top-k here ignores the correction bias. Returned: the mean of
  // L_seq over the sequences (1.0 under perfectly uniform routing).
  at::Tensor load_balancing_loss;
  at::Tensor tokens_per_expert;  // [E] int64, this rank's routing (for the bias update)
};

class MoeLayer {
 public:
  // `dense`: router and shared expert, replicated. `experts`: a ParamSet whose
  // tp rank/size are this rank's ETP rank/size; this rank adds only the
  // experts of its EP rank (names keep the global expert index). Names follow
  // the HF NemotronH checkpoint: <prefix>.gate.weight,
  // <prefix>.experts.<e>.{up,down}_proj.weight,
  // <prefix>.shared_experts.{up,down}_proj.weight.
  MoeLayer(ParamSet& dense, ParamSet& experts, const std::string& prefix, const MoeConfig& cfg, const Group& ep,
           const Group& etp, at::ScalarType compute, const Group* token_split = nullptr);

  // x [n, hidden]; cu_seqlens: sequence starts within x, then n (for the
  // load-balancing loss only; with token_split, this rank's part of each
  // sequence).
  MoeOutput forward(const at::Tensor& x, const std::vector<int64_t>& cu_seqlens) const;

  // gate.e_score_correction_bias [E], fp32: not trained by gradients
  // (aux-loss-free balancing updates it from tokens_per_expert), so it is
  // not in a ParamSet; the checkpoint code reads and writes it here.
  at::Tensor& score_correction_bias() { return score_bias_; }
  const at::Tensor& score_correction_bias() const { return score_bias_; }

 private:
  struct Routing {
    at::Tensor scores;   // [n, E] fp32
    at::Tensor chosen;   // [n, K] int64
    at::Tensor weights;  // [n, K] fp32
  };
  Routing route(const at::Tensor& x) const;
  // The output of each (token, k) slot's expert, slot t * K + k, with the
  // rows left in expert order for the combine (model/moe_routing.h).
  struct ExpertRows {
    at::Tensor rows;     // [n * K, hidden] in compute dtype; row j is slot order[j]
    at::Tensor inverse;  // [n * K] int64: slot s is row inverse[s] (order's inverse permutation)
  };
  // x dispatched to the experts in expert order (moe_dispatch), through them
  // (on the EP ranks holding them), and back.
  ExpertRows run_experts(const at::Tensor& x, const at::Tensor& chosen) const;
  // Local experts on rows in any order, row i through local expert
  // expert_of_row[i]: one grouped GEMM per projection where grouped(),
  // else experts_for_loop.
  at::Tensor local_experts(const at::Tensor& rows, const std::vector<int64_t>& expert_of_row) const;
  // The reference: one matmul pair per expert (every expert runs, even on
  // no rows, so that its gradients exist). The only path on the CPU.
  at::Tensor experts_for_loop(const at::Tensor& rows, const std::vector<int64_t>& expert_of_row) const;
  // Rows sorted by local expert, `ends` int32 [E_local] their cumulative
  // counts: the experts' stacked weights in at::_grouped_mm (compat.h).
  at::Tensor experts_grouped_mm(const at::Tensor& rows, const at::Tensor& ends) const;
  // Whether the grouped GEMM runs for rows like these (CUDA, bf16, SM90+).
  bool grouped(const at::Tensor& rows) const;
  at::Tensor load_balancing_loss(const at::Tensor& scores, const std::vector<int64_t>& cu_seqlens) const;
  // A replicated weight as used here: its gradient summed over token_split.
  at::Tensor replicated(const at::Tensor& w) const;
  // A shared-expert weight in the compute dtype, as replicated().
  at::Tensor shared(const at::Tensor& w) const;

  MoeConfig cfg_;
  const Group& ep_;
  const Group& etp_;
  at::ScalarType compute_;
  ComputeWeights weights_;  // bf16 copies of the weights, once per optimizer step
  const Group* split_;  // null: this rank's tokens are whole sequences
  int64_t local_experts_;
  at::Tensor gate_, score_bias_, shared_up_, shared_down_;
  std::vector<at::Tensor> up_, down_;  // this rank's experts, ffn sliced over etp
};

}  // namespace hetero
