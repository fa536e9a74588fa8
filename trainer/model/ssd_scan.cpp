#include "model/ssd_scan.h"

#include <limits>
#include <vector>

#include "model/chunk_scores.h"
#include "model/ssd_output.h"
#include "model/ssd_state_input.h"
#include "model/ssd_state_passing.h"
#include "model/ssd_x.h"

namespace hetero {

at::Tensor ssd_chunked_scan(const at::Tensor& x_in, const at::Tensor& dt_in, const at::Tensor& A_in,
                            const at::Tensor& B_in, const at::Tensor& C_in, int64_t chunk) {
  const at::Tensor x = x_in.to(at::kFloat), dt = dt_in.to(at::kFloat), A = A_in.to(at::kFloat);
  const at::Tensor B = B_in.to(at::kFloat), C = C_in.to(at::kFloat);
  const int64_t b = x.size(0), l = x.size(1), h = x.size(2), p = x.size(3), n = B.size(3);
  const int64_t q = chunk, c = (l + q - 1) / q, pad = c * q - l;
  // Zero padding at the end is inert: dt = 0 keeps the state and adds nothing.
  auto padded = [&](const at::Tensor& t) {
    std::vector<int64_t> pads(2 * (t.dim() - 2), 0);  // pairs run from the last dim back to l
    pads.push_back(0);
    pads.push_back(pad);
    return at::constant_pad_nd(t, pads);
  };
  // [b, c, q, h, ...] then heads first inside a chunk: [b, c, h, q, ...]
  const at::Tensor xc = padded(x).view({b, c, q, h, p}).permute({0, 1, 3, 2, 4});
  const at::Tensor Bc = padded(B).view({b, c, q, h, n}).permute({0, 1, 3, 2, 4});
  const at::Tensor Cc = padded(C).view({b, c, q, h, n}).permute({0, 1, 3, 2, 4});
  const at::Tensor dtc = padded(dt).view({b, c, q, h}).permute({0, 1, 3, 2});  // [b, c, h, q]
  const at::Tensor a = dtc * A.view({1, 1, h, 1});                          // log-decay per step
  const at::Tensor a_cum = a.cumsum(-1);                                    // [b, c, h, q]

  // Intra-chunk: y_t = sum_{s<=t} (C_t . B_s) exp(a_cum_t - a_cum_s) dt_s x_s.
  const at::Tensor diff = a_cum.unsqueeze(-1) - a_cum.unsqueeze(-2);  // [b, c, h, t, s]
  const at::Tensor causal = at::ones({q, q}, x.options().dtype(at::kBool)).tril();
  const at::Tensor decay = at::exp(diff.masked_fill(causal.logical_not(), -std::numeric_limits<float>::infinity()));
  const at::Tensor scores = at::matmul(Cc, Bc.transpose(-1, -2)) * decay * dtc.unsqueeze(-2);  // [b, c, h, t, s]
  const at::Tensor y_intra = at::matmul(scores, xc);                                          // [b, c, h, q, p]

  // Each chunk's own contribution to the state at its end.
  const at::Tensor to_end = at::exp(a_cum.narrow(-1, q - 1, 1) - a_cum) * dtc;  // [b, c, h, q]
  const at::Tensor chunk_states = at::matmul((xc * to_end.unsqueeze(-1)).transpose(-1, -2), Bc);  // [b, c, h, p, n]
  const at::Tensor chunk_decay = at::exp(a_cum.select(-1, q - 1));                               // [b, c, h]

  // Carry states across chunks: S_k = decay_k S_{k-1} + own_k.
  std::vector<at::Tensor> entering;  // the state each chunk starts from
  at::Tensor state = at::zeros({b, h, p, n}, x.options());
  for (int64_t k = 0; k < c; ++k) {
    entering.push_back(state);
    state = state * chunk_decay.select(1, k).view({b, h, 1, 1}) + chunk_states.select(1, k);
  }
  const at::Tensor start = at::stack(entering, 1);  // [b, c, h, p, n]
  // Inter-chunk: y_t += exp(a_cum_t) C_t S_start.
  const at::Tensor y_inter = at::matmul(Cc, start.transpose(-1, -2)) * at::exp(a_cum).unsqueeze(-1);  // [b,c,h,q,p]

  const at::Tensor y = (y_intra + y_inter).permute({0, 1, 3, 2, 4}).reshape({b, c * q, h, p});
  return y.narrow(1, 0, l);
}

namespace {

// t [b, l, ...] zero-padded at the end of dim 1 to `len`.
at::Tensor pad_time(const at::Tensor& t, int64_t len) {
  if (t.size(1) == len) return t;
  std::vector<int64_t> pads(2 * (t.dim() - 2), 0);  // pairs run from the last dim back to dim 1
  pads.push_back(0);
  pads.push_back(len - t.size(1));
  return at::constant_pad_nd(t, pads);
}

// exp(m) where `keep` holds, 0 elsewhere, without overflow in the dropped entries.
at::Tensor masked_exp(const at::Tensor& m, const at::Tensor& keep) {
  return at::exp(m.masked_fill(keep.logical_not(), -std::numeric_limits<float>::infinity()));
}

// scores[b,c,g,i,t,s] = CB[t,s] exp(a_cum_t - a_cum_s) dt_s for s <= t, else 0, in `mm`, from CB
// [b,c,g,q,q] and a_cum, dt [b,c,g,hg,q] (fp32). On CUDA one fused op (the ATen ops make ~8 fp32
// passes over [b,c,g,hg,q,q]); elsewhere the ATen expression it is tested against.
at::Tensor intra_chunk_scores(const at::Tensor& CB, const at::Tensor& a_cum, const at::Tensor& dt, at::ScalarType mm) {
  if (CB.is_cuda()) return chunk_scores(CB, a_cum, dt, mm);
  const int64_t q = CB.size(-1);
  const at::Tensor causal = at::ones({q, q}, dt.options().dtype(at::kBool)).tril();
  const at::Tensor decay = masked_exp(a_cum.unsqueeze(-1) - a_cum.unsqueeze(-2), causal);  // [b,c,g,hg,t,s]
  return (CB.unsqueeze(3) * decay * dt.unsqueeze(-2)).to(mm);
}

}  // namespace

at::Tensor ssd_chunked_scan_grouped(const at::Tensor& x_in, const at::Tensor& dt_in, const at::Tensor& A_in,
                                    const at::Tensor& B_in, const at::Tensor& C_in, int64_t chunk,
                                    const at::Tensor& D) {
  const at::ScalarType mm = x_in.scalar_type();  // matmul operands
  check_ssd_x(x_in, "ssd_chunked_scan_grouped");
  const bool chunked = x_in.dim() == 5;  // [b, c, q, h, p]
  TORCH_CHECK(!chunked || x_in.size(2) == chunk, "ssd_chunked_scan_grouped: a chunked x ", x_in.sizes(),
              " must have chunk = ", chunk, " steps in its dim 2");
  const int64_t b = x_in.size(0), l = ssd_x_length(x_in), h = ssd_x_heads(x_in), p = x_in.size(-1);
  const int64_t g = B_in.size(2), n = B_in.size(3), hg = h / g;
  const int64_t q = chunk, c = (l + q - 1) / q, len = c * q;
  // Zero padding at the end is inert: dt = 0 keeps the state and adds nothing.
  // [b, c, g, q, hg, p]: a group's heads side by side within a chunk.
  const at::Tensor x = (chunked ? x_in.view({b, c, q, g, hg, p}) : pad_time(x_in, len).reshape({b, c, q, g, hg, p}))
                           .permute({0, 1, 3, 2, 4, 5});
  // [b,c,g,q,n], made contiguous once: each is an operand of two matmuls.
  const at::Tensor B = pad_time(B_in.to(mm), len).reshape({b, c, q, g, n}).permute({0, 1, 3, 2, 4}).contiguous();
  const at::Tensor C = pad_time(C_in.to(mm), len).reshape({b, c, q, g, n}).permute({0, 1, 3, 2, 4}).contiguous();
  const at::Tensor dt = pad_time(dt_in.to(at::kFloat), len).reshape({b, c, q, g, hg}).permute({0, 1, 3, 4, 2});  // [b,c,g,hg,q]
  const at::Tensor a_cum = (dt * A_in.to(at::kFloat).view({1, 1, g, hg, 1})).cumsum(-1);  // log-decay, [b,c,g,hg,q]

  // Intra-chunk: y_t = sum_{s<=t} (C_t . B_s) exp(a_cum_t - a_cum_s) dt_s x_s; C B^T once per group.
  const at::Tensor scores = intra_chunk_scores(at::matmul(C, B.transpose(-1, -2)).to(at::kFloat), a_cum, dt, mm);
  const at::Tensor x_heads = x.permute({0, 1, 2, 4, 3, 5});  // [b,c,g,hg,q,p]: no copy if x_in is stored so
  const at::Tensor y_intra = at::matmul(scores, x_heads);      // [b,c,g,hg,q,p]

  // Each chunk's own contribution to the state at its end, [b,c,g,n,hg*p]: the
  // layout the state passing and the inter-chunk matmul take as they are, so
  // that neither the states nor their gradients are transposed.
  // x weighted by each step's decay to its chunk's end, [b,c,g,q,hg*p]: on CUDA one fused op
  // reading x unpadded; elsewhere the ATen ops it is tested against.
  const at::Tensor to_end = at::exp(a_cum.narrow(-1, q - 1, 1) - a_cum) * dt;  // [b,c,g,hg,q]
  const at::Tensor weighted =
      x_in.is_cuda() ? ssd_state_input(x_in, to_end)
                     : (x * to_end.permute({0, 1, 2, 4, 3}).unsqueeze(-1)).to(mm).reshape({b, c, g, q, hg * p});
  const at::Tensor own = at::matmul(B.transpose(-1, -2), weighted);  // [b,c,g,n,hg*p] in mm

  // Entering states: S_0 = 0, S_{k+1} = exp(chunk_log_k) S_k + own_k. On CUDA
  // one fused op in the states' own layout; elsewhere, the reference, as
  // S_k = sum_{j<k} exp(G_{k-1} - G_j) own_j with G the cumulative chunk
  // log-decays: one [c, c] matmul per (b, g, head).
  const at::Tensor chunk_log = a_cum.select(-1, q - 1);  // [b,c,g,hg]
  at::Tensor entering;                                    // [b,c,g,n,hg*p] in mm
  if (x_in.is_cuda()) {
    entering = ssd_state_passing(own.view({b, c, g, n, hg, p}), chunk_log).view(own.sizes());
  } else {
    const at::Tensor log_by_head = chunk_log.permute({0, 2, 3, 1});  // [b,g,hg,c]
    const at::Tensor G = log_by_head.cumsum(-1);
    const at::Tensor earlier = at::ones({c, c}, dt.options().dtype(at::kBool)).tril(-1);  // j < k
    const at::Tensor carry = masked_exp((G - log_by_head).unsqueeze(-1) - G.unsqueeze(-2), earlier);  // [b,g,hg,k,j]
    const at::Tensor own_by_head =
        own.to(at::kFloat).view({b, c, g, n, hg, p}).permute({0, 2, 4, 1, 3, 5}).reshape({b, g, hg, c, n * p});
    entering = at::matmul(carry, own_by_head)  // [b,g,hg,c,n*p]
                   .view({b, g, hg, c, n, p})
                   .permute({0, 3, 1, 4, 2, 5})
                   .to(mm)
                   .reshape({b, c, g, n, hg * p});
  }

  // Inter-chunk: y_t += exp(a_cum_t) C_t S_entering, a group's heads in one matmul.
  const at::Tensor y_inter = at::matmul(C, entering);  // [b,c,g,q,hg*p], before its decay exp(a_cum_t)

  // y = y_intra + y_inter exp(a_cum) (+ x D): on CUDA one fused op writing [b, l, h, p]; elsewhere
  // the ATen ops it is tested against.
  if (x_in.is_cuda()) return ssd_chunk_output(y_intra, y_inter, a_cum, x_in, D);
  const at::Tensor y_inter_decayed =
      y_inter.to(at::kFloat).view({b, c, g, q, hg, p}) * at::exp(a_cum).permute({0, 1, 2, 4, 3}).unsqueeze(-1);
  const at::Tensor y = (y_intra.permute({0, 1, 2, 4, 3, 5}).to(at::kFloat) + y_inter_decayed)
                           .permute({0, 1, 3, 2, 4, 5})
                           .reshape({b, len, h, p})
                           .narrow(1, 0, l);
  return D.defined() ? y + x_in.to(at::kFloat).reshape({b, l, h, p}) * D.view({1, 1, h, 1}) : y;
}

at::Tensor ssd_chunked_x(const at::Tensor& x_groups, int64_t head_dim, int64_t chunk) {
  TORCH_CHECK(x_groups.dim() == 4 && head_dim > 0 && x_groups.size(3) % head_dim == 0 && chunk > 0,
              "ssd_chunked_x: x_groups must be [b, l, g, hg * p] with p = ", head_dim, ", got ", x_groups.sizes());
  const int64_t b = x_groups.size(0), l = x_groups.size(1), g = x_groups.size(2), hg = x_groups.size(3) / head_dim;
  const int64_t c = (l + chunk - 1) / chunk;
  const at::Tensor heads_major = pad_time(x_groups, c * chunk)
                                     .view({b, c, chunk, g, hg, head_dim})
                                     .permute({0, 1, 3, 4, 2, 5})
                                     .contiguous();  // [b, c, g, hg, q, p]
  return heads_major.permute({0, 1, 4, 2, 3, 5}).view({b, c, chunk, g * hg, head_dim});
}

at::Tensor ssd_recurrence(const at::Tensor& x, const at::Tensor& dt, const at::Tensor& A, const at::Tensor& B,
                          const at::Tensor& C) {
  const int64_t b = x.size(0), l = x.size(1), h = x.size(2), p = x.size(3), n = B.size(3);
  at::Tensor state = at::zeros({b, h, p, n}, x.options().dtype(at::kFloat));
  std::vector<at::Tensor> ys;
  for (int64_t t = 0; t < l; ++t) {
    const at::Tensor dt_t = dt.select(1, t).to(at::kFloat);                       // [b, h]
    const at::Tensor decay = at::exp(dt_t * A.to(at::kFloat)).view({b, h, 1, 1});
    const at::Tensor xt = x.select(1, t).to(at::kFloat), Bt = B.select(1, t).to(at::kFloat);
    state = state * decay + (dt_t.view({b, h, 1, 1}) * xt.unsqueeze(-1) * Bt.unsqueeze(-2));
    ys.push_back(at::matmul(state, C.select(1, t).to(at::kFloat).unsqueeze(-1)).squeeze(-1));  // [b, h, p]
  }
  return at::stack(ys, 1);
}

}  // namespace hetero
