#include "model/ssd_scan.h"

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
