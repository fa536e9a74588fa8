#include "model/moe.h"

#include <cmath>
#include <numeric>
#include <stdexcept>

#include "compat.h"
#include "dist/device_copy.h"
#include "model/all_to_all.h"
#include "model/moe_routing.h"
#include "model/squared_relu.h"
#include "model/tp_ops.h"

namespace hetero {
namespace {

std::vector<int64_t> to_vector(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kCPU, at::kLong).contiguous();
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

int64_t sum_range(const std::vector<int64_t>& v, int64_t begin, int64_t count) {
  return std::accumulate(v.begin() + begin, v.begin() + begin + count, int64_t{0});
}

// A host vector on `device`, without blocking the host (dist/device_copy.h).
template <typename T>
at::Tensor host_to_device(const std::vector<T>& v, at::ScalarType dtype, at::Device device) {
  return copy_to_device(at::tensor(v, dtype), device);
}

// p such that p.index_select(0, inverse(p)) == identity.
at::Tensor inverse_permutation(const at::Tensor& p) {
  return at::empty_like(p).index_put_({p}, at::arange(p.numel(), p.options()));
}

at::Tensor squared_relu_mlp(const at::Tensor& x, const at::Tensor& up, const at::Tensor& down) {
  return at::matmul(squared_relu(at::matmul(x, up.t())), down.t());
}

}  // namespace

MoeLayer::MoeLayer(ParamSet& dense, ParamSet& experts, const std::string& prefix, const MoeConfig& cfg,
                   const Group& ep, const Group& etp, at::ScalarType compute, const Group* token_split)
    : cfg_(cfg), ep_(ep), etp_(etp), compute_(compute), weights_(compute), split_(token_split) {
  if (cfg.num_experts % ep.size() != 0)
    throw std::invalid_argument("moe: ep=" + std::to_string(ep.size()) + " does not divide num_experts=" +
                                std::to_string(cfg.num_experts));
  if (cfg.top_k < 1 || cfg.top_k > cfg.num_experts)
    throw std::invalid_argument("moe: top_k=" + std::to_string(cfg.top_k) + " must be in [1, num_experts]");
  local_experts_ = cfg.num_experts / ep.size();
  const double out_std = 0.02 / std::sqrt(2.0);
  gate_ = dense.add(prefix + ".gate.weight", {cfg.num_experts, cfg.hidden}, -1, Init::Normal);
  score_bias_ = at::zeros({cfg.num_experts}, gate_.options().requires_grad(false));
  for (int64_t l = 0; l < local_experts_; ++l) {
    const std::string e = prefix + ".experts." + std::to_string(ep.rank * local_experts_ + l);
    up_.push_back(experts.add(e + ".up_proj.weight", {cfg.expert_ffn, cfg.hidden}, 0, Init::Normal));
    down_.push_back(experts.add(e + ".down_proj.weight", {cfg.hidden, cfg.expert_ffn}, 1, Init::Normal, out_std));
  }
  if (cfg.shared_ffn > 0) {
    shared_up_ = dense.add(prefix + ".shared_experts.up_proj.weight", {cfg.shared_ffn, cfg.hidden}, -1, Init::Normal);
    shared_down_ =
        dense.add(prefix + ".shared_experts.down_proj.weight", {cfg.hidden, cfg.shared_ffn}, -1, Init::Normal, out_std);
  }
}

at::Tensor MoeLayer::replicated(const at::Tensor& w) const {
  return split_ ? enter_tp_region(w, *split_) : w;
}

at::Tensor MoeLayer::shared(const at::Tensor& w) const {
  // The gradient is summed over the split group in fp32, then cast.
  return split_ && split_->size() > 1 ? replicated(w).to(compute_) : weights_(w);
}

MoeLayer::Routing MoeLayer::route(const at::Tensor& x) const {
  Routing r;
  const at::Tensor logits = at::matmul(x.to(at::kFloat), replicated(gate_).t());  // router in fp32
  r.scores = cfg_.score == RouterScore::Sigmoid ? at::sigmoid(logits) : at::softmax(logits, -1);
  r.chosen = std::get<1>(at::topk(r.scores.detach() + score_bias_, cfg_.top_k, -1));
  r.weights = r.scores.gather(1, r.chosen);
  if (cfg_.normalize_topk) r.weights = r.weights / (r.weights.sum(-1, /*keepdim=*/true) + 1e-20);
  r.weights = r.weights * cfg_.scaling;
  return r;
}

bool MoeLayer::grouped(const at::Tensor& rows) const {
  return grouped_mm_fits(rows, cfg_.hidden, up_.empty() ? 0 : up_.front().size(0));
}

at::Tensor MoeLayer::experts_grouped_mm(const at::Tensor& rows, const at::Tensor& ends) const {
  // [E_local, ffn, H] and [E_local, H, ffn] as [groups, k, n] operands (transposed views).
  const at::Tensor up = weights_.stacked(up_).transpose(1, 2);
  const at::Tensor down = weights_.stacked(down_).transpose(1, 2);
  return grouped_mm(squared_relu(grouped_mm(rows, up, ends)), down, ends);
}

at::Tensor MoeLayer::local_experts(const at::Tensor& rows, const std::vector<int64_t>& expert_of_row) const {
  if (grouped(rows)) {
    // Rows sorted by expert on the host (a counting sort), one copy of the
    // order to the device, one grouped GEMM per projection.
    std::vector<int64_t> counts(local_experts_, 0);
    for (int64_t e : expert_of_row) ++counts[e];
    std::vector<int64_t> next(local_experts_, 0), order(expert_of_row.size());
    std::vector<int32_t> ends(local_experts_);
    for (int64_t l = 0, sum = 0; l < local_experts_; ++l) next[l] = sum, sum += counts[l], ends[l] = int32_t(sum);
    for (int64_t i = 0; i < static_cast<int64_t>(expert_of_row.size()); ++i) order[next[expert_of_row[i]]++] = i;
    const at::Tensor perm = host_to_device(order, at::kLong, rows.device());
    const at::Tensor out = experts_grouped_mm(rows.index_select(0, perm), host_to_device(ends, at::kInt, rows.device()));
    return out.index_select(0, inverse_permutation(perm));
  }
  return experts_for_loop(rows, expert_of_row);
}

at::Tensor MoeLayer::experts_for_loop(const at::Tensor& rows, const std::vector<int64_t>& expert_of_row) const {
  std::vector<std::vector<int64_t>> rows_of(local_experts_);
  for (int64_t i = 0; i < static_cast<int64_t>(expert_of_row.size()); ++i) rows_of[expert_of_row[i]].push_back(i);
  std::vector<at::Tensor> outs, where;
  const auto idx_opts = at::TensorOptions().dtype(at::kLong).device(rows.device());
  for (int64_t l = 0; l < local_experts_; ++l) {
    // Every expert runs, even on no rows, so that its gradients exist.
    const at::Tensor idx = host_to_device(rows_of[l], at::kLong, idx_opts.device());
    outs.push_back(squared_relu_mlp(rows.index_select(0, idx), weights_(up_[l]), weights_(down_[l])));
    where.push_back(idx);
  }
  return at::cat(outs).index_select(0, inverse_permutation(at::cat(where)));
}

MoeLayer::ExpertRows MoeLayer::run_experts(const at::Tensor& x, const at::Tensor& chosen) const {
  const int64_t k = cfg_.top_k, num_e = cfg_.num_experts, per_rank = local_experts_;
  const int ep = ep_.size(), etp = etp_.size();
  // Slots (token, k) sorted by expert: contiguous runs per expert, and so per EP rank.
  const at::Tensor slots = chosen.flatten();
  const at::Tensor order = std::get<1>(at::sort(slots, /*stable=*/true, 0, /*descending=*/false));
  const at::Tensor inverse = inverse_permutation(order);
  const at::Tensor by_expert = moe_dispatch(x, order, inverse, k);
  if (ep == 1 && etp == 1 && grouped(x)) {
    // All experts here and sorted: group ends from the counts on the device, no host sync.
    const at::Tensor ends = at::bincount(slots, {}, num_e).cumsum(0).to(at::kInt);
    return {experts_grouped_mm(by_expert, ends), inverse};
  }
  const std::vector<int64_t> counts = to_vector(at::bincount(slots, {}, num_e));

  // EP dispatch. Every rank needs every rank's counts to size what it receives.
  const auto all_counts = all_gather_counts(counts, ep_);
  std::vector<int64_t> send(ep), recv(ep), received_per_expert;  // received: by source, then local expert
  for (int j = 0; j < ep; ++j) send[j] = sum_range(counts, j * per_rank, per_rank);
  for (int i = 0; i < ep; ++i) {
    recv[i] = sum_range(all_counts[i], ep_.rank * per_rank, per_rank);
    for (int64_t l = 0; l < per_rank; ++l) received_per_expert.push_back(all_counts[i][ep_.rank * per_rank + l]);
  }
  const at::Tensor received = all_to_all_rows(by_expert, send, recv, ep_);

  // ETP: every ETP rank applies its ffn slice to the rows of all of them.
  const auto etp_counts = all_gather_counts(received_per_expert, etp_);
  std::vector<int64_t> rows_per_etp(etp), expert_of_row;
  for (int r = 0; r < etp; ++r) {
    rows_per_etp[r] = std::accumulate(etp_counts[r].begin(), etp_counts[r].end(), int64_t{0});
    for (int64_t j = 0; j < static_cast<int64_t>(etp_counts[r].size()); ++j)
      expert_of_row.insert(expert_of_row.end(), static_cast<size_t>(etp_counts[r][j]), j % per_rank);
  }
  const at::Tensor gathered = all_gather_rows(received, rows_per_etp, etp_);
  const at::Tensor partial = local_experts(gathered, expert_of_row);
  const at::Tensor done = reduce_scatter_rows(partial, rows_per_etp, etp_);

  // Back to the sending ranks, still in expert order.
  return {all_to_all_rows(done, recv, send, ep_), inverse};
}

at::Tensor MoeLayer::load_balancing_loss(const at::Tensor& scores, const std::vector<int64_t>& cu_seqlens) const {
  const int64_t num_e = cfg_.num_experts, k = cfg_.top_k, n = scores.size(0);
  const int64_t seqs = static_cast<int64_t>(cu_seqlens.size()) - 1;
  if (seqs < 1 || cu_seqlens.front() != 0 || cu_seqlens.back() != n)
    throw std::invalid_argument("moe: cu_seqlens must run from 0 to the token count " + std::to_string(n));
  const at::Tensor p =
      cfg_.score == RouterScore::Sigmoid ? scores / (scores.sum(-1, /*keepdim=*/true) + 1e-20) : scores;
  const at::Tensor top = std::get<1>(at::topk(p.detach(), k, -1));
  const at::Tensor picked = at::zeros_like(p).scatter_(1, top, 1.0);
  std::vector<int64_t> seq_of_token(n);
  std::vector<float> lengths(seqs);
  for (int64_t s = 0; s < seqs; ++s) {
    for (int64_t t = cu_seqlens[s]; t < cu_seqlens[s + 1]; ++t) seq_of_token[t] = s;
    lengths[s] = static_cast<float>(cu_seqlens[s + 1] - cu_seqlens[s]);
  }
  const at::Tensor seq = host_to_device(seq_of_token, at::kLong, p.device());
  const at::Tensor len = host_to_device(lengths, at::kFloat, p.device()).unsqueeze(1);
  at::Tensor picked_sum = at::zeros({seqs, num_e}, p.options()).index_add(0, seq, picked);
  at::Tensor p_sum = at::zeros({seqs, num_e}, p.options()).index_add(0, seq, p);
  at::Tensor len_sum = len.clone();
  if (split_ && split_->size() > 1) {
    // Each sequence is spread over the split group: its sums are the group's.
    all_reduce_sum(*split_, picked_sum);
    all_reduce_sum(*split_, len_sum);
    p_sum = leave_tp_region(p_sum, *split_);  // the loss is replicated: each rank's share keeps its gradient
  }
  const at::Tensor f = picked_sum * (double(num_e) / k) / len_sum;
  const at::Tensor P = p_sum / len_sum;
  return (f * P).sum(1).mean();
}

MoeOutput MoeLayer::forward(const at::Tensor& x, const std::vector<int64_t>& cu_seqlens) const {
  const Routing r = route(x);
  const at::Tensor xc = x.to(compute_);
  const ExpertRows experts = run_experts(xc, r.chosen);
  MoeOutput out;
  out.y = moe_combine(experts.rows, experts.inverse, r.weights);
  if (shared_up_.defined())
    out.y = out.y + squared_relu_mlp(xc, shared(shared_up_), shared(shared_down_))
                        .to(at::kFloat);
  out.load_balancing_loss = load_balancing_loss(r.scores, cu_seqlens);
  out.tokens_per_expert = at::bincount(r.chosen.flatten(), {}, cfg_.num_experts);
  return out;
}

}  // namespace hetero
