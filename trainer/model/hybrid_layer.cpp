#include "model/hybrid_layer.h"

#include <stdexcept>
#include <vector>

#include "model/gated_rms_norm.h"
#include "model/tp_ops.h"
#include "model/transformer_block.h"

namespace hetero {
namespace {

// Each of `samples` rows of `len` tokens is its own sequence.
std::vector<int64_t> per_sample_cu_seqlens(int64_t samples, int64_t len) {
  std::vector<int64_t> cu(samples + 1);
  for (int64_t i = 0; i <= samples; ++i) cu[i] = i * len;
  return cu;
}

AttentionConfig attention_config(const LlmArch& a) {
  AttentionConfig c;
  c.hidden = a.hidden_size;
  c.heads = a.num_attention_heads;
  c.kv_heads = a.num_query_groups;
  c.head_dim = a.attention_head_dim();
  return c;
}

MoeConfig moe_config(const LlmArch& a) {
  MoeConfig c;
  c.hidden = a.hidden_size;
  c.expert_ffn = a.moe_intermediate_size;
  c.num_experts = a.num_experts;
  c.top_k = a.num_experts_per_tok;
  c.score = a.moe_score_function == "softmax" ? RouterScore::Softmax : RouterScore::Sigmoid;
  c.normalize_topk = a.norm_topk_prob;
  c.scaling = a.routed_scaling_factor;
  c.shared_ffn = a.moe_shared_expert_intermediate_size;
  return c;
}

}  // namespace

MambaConfig mamba_config(const LlmArch& a) {
  MambaConfig c;
  c.hidden = a.hidden_size;
  c.heads = a.mamba_num_heads;
  c.head_dim = a.mamba_head_dim;
  c.groups = a.n_groups;
  c.state = a.ssm_state_size;
  c.conv_kernel = a.conv_kernel;
  c.chunk = a.chunk_size;
  c.dt_clamp_min = a.dt_clamp_min;
  return c;
}

HybridLayer::HybridLayer(ParamSet& params, ParamSet& experts, const std::string& prefix, char kind,
                         const LlmArch& arch, const ModuleGroups& g, bool sequence_parallel, at::ScalarType compute)
    : kind_(kind), tp_(g.tp), sp_(sequence_parallel && g.tp.size() > 1), compute_(compute) {
  norm_ = params.add(prefix + ".norm.weight", {arch.hidden_size}, -1, Init::Ones);
  params.params().back().decay = false;
  const std::string mixer = prefix + ".mixer";
  switch (kind) {
    case 'M': sequence_mixer_ = std::make_unique<MambaMixer>(params, mixer, mamba_config(arch), g.tp, compute); break;
    case '*':
      sequence_mixer_ = std::make_unique<Attention>(params, mixer, attention_config(arch), g.tp, compute);
      break;
    case '-':
      mlp_ = std::make_unique<SquaredReluMlp>(params, mixer, arch.hidden_size, arch.ffn_hidden_size, g.tp, compute);
      break;
    case 'E':
      // The MoE contract wants the tp ranks' tokens disjoint: sequence
      // parallelism gives them slices already; without it each takes one
      // (see moe()). Either way the replicated router and shared expert sum
      // their gradients over tp.
      moe_ = std::make_unique<MoeLayer>(params, experts, mixer, moe_config(arch), g.ep, g.etp, compute, &g.tp);
      break;
    default:
      throw std::invalid_argument(prefix + ": layer kind '" + std::string(1, kind) +
                                  "' is none of M, *, -, E (hybrid_override_pattern)");
  }
}

at::Tensor HybridLayer::moe(const at::Tensor& h, at::Tensor* load_balancing) const {
  const at::Tensor mine = sp_ ? h : split_sequences_to_tp(h, tp_);  // [B, S/tp, hidden]
  const int64_t b = mine.size(0), len = mine.size(1), hidden = mine.size(2);
  MoeOutput out = moe_->forward(mine.reshape({b * len, hidden}), per_sample_cu_seqlens(b, len));
  if (load_balancing) *load_balancing = out.load_balancing_loss;
  const at::Tensor y = out.y.view({b, len, hidden});
  return sp_ ? y : gather_sequences_from_tp(y, tp_);
}

at::Tensor HybridLayer::mix(const at::Tensor& h, at::Tensor* load_balancing) const {
  if (moe_) return moe(h, load_balancing);
  // Into the tp region: whole sequences on every tp rank.
  const at::Tensor in = enter_tp_region(h.to(compute_), tp_, sp_);
  const int64_t b = in.size(0), s = in.size(1), hidden = in.size(2);
  at::Tensor partial;
  if (mlp_) {
    partial = mlp_->forward_partial(in);
  } else {
    const at::Tensor packed = in.reshape({b * s, hidden});
    const auto cu = per_sample_cu_seqlens(b, s);
    partial = sequence_mixer_->forward_partial(packed, cu).view({b, s, hidden});
  }
  return leave_tp_region(partial, tp_, sp_).to(at::kFloat);
}

at::Tensor llm_rms_norm(const at::Tensor& x, const at::Tensor& weight, at::ScalarType out_dtype) {
  constexpr double eps = 1e-5;
  if (rms_norm_fused_supported(x)) return rms_norm_fused(x, weight, eps, out_dtype);
  return rms_norm(x, weight, eps).to(out_dtype);
}

at::Tensor HybridLayer::forward(const at::Tensor& x, at::Tensor* load_balancing) const {
  // The MoE router takes the fp32 norm; the other mixers start with a matmul in the compute dtype.
  const at::Tensor h = llm_rms_norm(x, replicated_weight(norm_, tp_, sp_), moe_ ? at::kFloat : compute_);
  return x + mix(h, load_balancing);
}

}  // namespace hetero
