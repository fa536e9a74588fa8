// Host emulation of the chunk-score backward kernels (trainer/kernels/
// chunk_scores.cu): the tiles kernel's index math re-implemented block by
// block and thread by thread (the warps' shuffles on arrays of lane values,
// shared memory and the workspace filled with NaN first so that a read of
// anything not written shows), then the sum kernel, against the CPU loop
// of model/chunk_scores.cpp (backward_cpu) over the same per-element math
// (kernels/chunk_scores.h). Not part of CI or CMake: see run.sh.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <vector>

#include "kernels/chunk_scores.h"

using hetero::chunk_score_grad;
using hetero::ChunkScoreGrad;

namespace {

constexpr int kThreads = 256, kWarps = 8;
const float kNaN = std::numeric_limits<float>::quiet_NaN();

int lanes_per_row(int q) { return q <= 64 ? 8 : q <= 128 ? 16 : 32; }

struct Grads {
  std::vector<float> d_cb, d_a, d_dt;
};

// The CPU loop of model/chunk_scores.cpp.
Grads reference(const std::vector<float>& ds, const std::vector<float>& cb, const std::vector<float>& a,
                const std::vector<float>& dt, int64_t groups, int hg, int q) {
  Grads r{std::vector<float>(groups * q * q, 0.0f), std::vector<float>(groups * hg * q, 0.0f),
          std::vector<float>(groups * hg * q, 0.0f)};
  for (int64_t head = 0; head < groups * hg; ++head) {
    const float *c = cb.data() + head / hg * q * q, *ah = a.data() + head * q, *d = dt.data() + head * q,
                *dsh = ds.data() + head * q * q;
    float *dc = r.d_cb.data() + head / hg * q * q, *da = r.d_a.data() + head * q, *ddt = r.d_dt.data() + head * q;
    for (int t = 0; t < q; ++t)
      for (int s = 0; s <= t; ++s) {
        const ChunkScoreGrad g = chunk_score_grad(dsh[t * q + s], c[t * q + s], ah[t], ah[s], d[s]);
        dc[t * q + s] += g.d_cb;
        da[t] += g.g;
        da[s] -= g.g;
        ddt[s] += g.d_dt;
      }
  }
  return r;
}

// shfl_xor over each warp of a block: out[tid] = in[tid ^ offset] (same warp).
void shfl_xor(const float* in, float* out, int offset) {
  for (int tid = 0; tid < kThreads; ++tid) out[tid] = in[(tid & ~31) | ((tid & 31) ^ offset)];
}

// The two kernels. vec: the 16-byte-load path (q % 8 == 0): loads of whole
// vectors, unguarded, so the emulation checks they stay inside the row.
Grads emulate(const std::vector<float>& ds, const std::vector<float>& cb, const std::vector<float>& a_cum,
              const std::vector<float>& dt, int64_t groups, int hg, int q, bool vec) {
  const int L = lanes_per_row(q), kRowsPerWarp = 32 / L, kRows = kThreads / L, tiles = (q + kRows - 1) / kRows;
  const int64_t qq = int64_t(q) * q, total_heads = groups * hg;
  Grads out{std::vector<float>(groups * qq, kNaN), std::vector<float>(total_heads * q, 0.0f),
            std::vector<float>(total_heads * q, 0.0f)};
  std::vector<float> workspace(total_heads * q * (1 + 2 * tiles), kNaN);
  float* ws_rows = workspace.data();
  float* ws_g = ws_rows + total_heads * q;
  float* ws_dt = ws_g + total_heads * tiles * q;
  auto check_in_row = [&](int s0, int j) {
    if (s0 + j >= q) {
      std::fprintf(stderr, "vector load past the row: s0=%d j=%d q=%d\n", s0, j, q);
      std::exit(1);
    }
  };
  std::vector<float> partial(2 * kWarps * 2 * 8 * L);
  auto P = [&](int parity, int w, int kind, int s) -> float& {
    return partial[((parity * kWarps + w) * 2 + kind) * 8 * L + s];
  };
  for (int64_t block = 0; block < groups * tiles; ++block) {
    std::fill(partial.begin(), partial.end(), kNaN);
    const int64_t group = block / tiles;
    const int tile = int(block % tiles);
    const int t_end = std::min(q, (tile + 1) * kRows);
    struct Thread {
      int lane, warp, row_in_warp, s0, t;
      bool active;
      float cb_reg[8], dcb[8];
    };
    std::vector<Thread> th(kThreads);
    for (int tid = 0; tid < kThreads; ++tid) {
      Thread& x = th[tid];
      x.lane = tid % 32, x.warp = tid / 32, x.row_in_warp = x.lane / L, x.s0 = 8 * (x.lane % L);
      x.t = tile * kRows + x.warp * kRowsPerWarp + x.row_in_warp;
      x.active = x.t < q && x.s0 < q && x.s0 <= x.t;
      for (int j = 0; j < 8; ++j) x.cb_reg[j] = 0.0f, x.dcb[j] = 0.0f;
      if (x.active)
        for (int j = 0; j < 8; ++j) {
          if (vec) check_in_row(x.s0, j);
          x.cb_reg[j] = vec || x.s0 + j < q ? cb[group * qq + int64_t(x.t) * q + x.s0 + j] : 0.0f;
        }
    }
    const int64_t head0 = group * hg;
    for (int i = 0; i < hg; ++i) {
      const int64_t head = head0 + i;
      float g[8][kThreads], gd[8][kThreads], row[kThreads], tmp[kThreads];
      for (int tid = 0; tid < kThreads; ++tid) {
        Thread& x = th[tid];
        for (int j = 0; j < 8; ++j) g[j][tid] = 0.0f, gd[j][tid] = 0.0f;
        if (!x.active) continue;
        const float a_t = a_cum[head * q + x.t];
        for (int j = 0; j < 8; ++j) {
          const bool in_row = x.s0 + j < q;
          if (vec) check_in_row(x.s0, j);
          const float d_score = vec || in_row ? ds[head * qq + int64_t(x.t) * q + x.s0 + j] : 0.0f;
          const float a_s = vec || in_row ? a_cum[head * q + x.s0 + j] : 0.0f;
          const float d_s = vec || in_row ? dt[head * q + x.s0 + j] : 0.0f;
          if (x.s0 + j <= x.t && x.s0 + j < q) {
            const ChunkScoreGrad r = chunk_score_grad(d_score, x.cb_reg[j], a_t, a_s, d_s);
            x.dcb[j] += r.d_cb;
            g[j][tid] = r.g;
            gd[j][tid] = r.d_dt;
          }
        }
      }
      // row sums
      for (int tid = 0; tid < kThreads; ++tid) {
        row[tid] = 0.0f;
        for (int j = 0; j < 8; ++j) row[tid] += g[j][tid];
      }
      for (int offset = L / 2; offset > 0; offset /= 2) {
        shfl_xor(row, tmp, offset);
        for (int tid = 0; tid < kThreads; ++tid) row[tid] += tmp[tid];
      }
      for (int tid = 0; tid < kThreads; ++tid)
        if (th[tid].lane % L == 0 && th[tid].t < q) ws_rows[head * q + th[tid].t] = row[tid];
      // column sums over the warp's rows, into shared memory
      const int parity = i & 1;
      if (kRowsPerWarp == 1) {
        for (int tid = 0; tid < kThreads; ++tid)
          for (int j = 0; j < 8; ++j) {
            P(parity, th[tid].warp, 0, th[tid].s0 + j) = g[j][tid];
            P(parity, th[tid].warp, 1, th[tid].s0 + j) = gd[j][tid];
          }
      } else {
        float col[8][kThreads], theirs[kThreads];
        for (int j = 0; j < 8; ++j) {
          for (int tid = 0; tid < kThreads; ++tid) {
            const bool keeps_dt = (th[tid].lane & L) != 0;
            theirs[tid] = keeps_dt ? g[j][tid] : gd[j][tid];
          }
          shfl_xor(theirs, tmp, L);
          for (int tid = 0; tid < kThreads; ++tid) {
            const bool keeps_dt = (th[tid].lane & L) != 0;
            col[j][tid] = (keeps_dt ? gd[j][tid] : g[j][tid]) + tmp[tid];
          }
        }
        for (int offset = 2 * L; offset < 32; offset *= 2)
          for (int j = 0; j < 8; ++j) {
            shfl_xor(col[j], tmp, offset);
            for (int tid = 0; tid < kThreads; ++tid) col[j][tid] += tmp[tid];
          }
        for (int tid = 0; tid < kThreads; ++tid) {
          if (th[tid].row_in_warp >= 2) continue;
          const int kind = (th[tid].lane & L) != 0;
          for (int j = 0; j < 8; ++j) P(parity, th[tid].warp, kind, th[tid].s0 + j) = col[j][tid];
        }
      }
      // __syncthreads, then the tile's column partials
      for (int tid = 0; tid < kThreads; ++tid)
        for (int k = tid; k < 2 * t_end; k += kThreads) {
          const int kind = k >= t_end, s = k - kind * t_end;
          float sum = 0.0f;
          for (int w = 0; w < kWarps; ++w) sum += P(parity, w, kind, s);
          (kind ? ws_dt : ws_g)[(head * tiles + tile) * q + s] = sum;
        }
    }
    for (int tid = 0; tid < kThreads; ++tid) {
      const Thread& x = th[tid];
      if (x.t >= q) continue;
      for (int j = 0; j < 8; ++j) {
        if (vec && x.s0 < q) check_in_row(x.s0, j);
        if (x.s0 + j < q) {
          float& o = out.d_cb[group * qq + int64_t(x.t) * q + x.s0 + j];
          if (!std::isnan(o)) {
            std::fprintf(stderr, "d_cb element written twice\n");
            std::exit(1);
          }
          o = x.dcb[j];
        }
      }
    }
  }
  // the sum kernel
  for (int64_t k = 0; k < total_heads * q; ++k) {
    const int64_t head = k / q;
    const int s = int(k - head * q);
    const float* g = ws_g + head * tiles * q + s;
    const float* gd = ws_dt + head * tiles * q + s;
    float sg = 0.0f, sd = 0.0f;
    for (int tile = s / kRows; tile < tiles; ++tile) sg += g[int64_t(tile) * q], sd += gd[int64_t(tile) * q];
    out.d_a[k] += ws_rows[k] - sg;
    out.d_dt[k] += sd;
  }
  return out;
}

// max |got - want| within rtol of want's largest magnitude, no NaN.
bool close(const std::vector<float>& got, const std::vector<float>& want, double rtol, const char* what,
           const char* at) {
  double scale = 1e-30, err = 0.0;
  for (size_t i = 0; i < want.size(); ++i) {
    scale = std::max(scale, std::fabs(double(want[i])));
    const double e = std::fabs(double(got[i]) - want[i]);
    if (!(e == e)) err = std::numeric_limits<double>::infinity();
    err = std::max(err, e);
  }
  const bool ok = err <= rtol * scale;
  std::printf("  %-8s %s: max error %.3g of scale %.3g%s\n", what, at, err, scale, ok ? "" : "  FAILED");
  return ok;
}

}  // namespace

int main() {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  struct Shape {
    int64_t groups;
    int hg, q;
  };
  const Shape shapes[] = {{1, 1, 128}, {2, 3, 128}, {5, 16, 128}, {3, 3, 100}, {4, 1, 37}, {2, 16, 37},
                          {1, 3, 256}, {2, 2, 200}, {1, 5, 64},  {3, 1, 5},   {1, 2, 1},  {2, 3, 8}};
  bool ok = true;
  for (const Shape& sh : shapes) {
    const int64_t groups = sh.groups, heads = groups * sh.hg;
    const int q = sh.q;
    std::vector<float> cb(groups * q * q), a(heads * q), dt(heads * q), ds(heads * q * q);
    for (float& v : cb) v = normal(rng);
    for (int64_t h = 0; h < heads; ++h) {
      float acc = 0.0f;
      for (int s = 0; s < q; ++s) {
        dt[h * q + s] = 0.01f + 0.2f * uniform(rng);
        acc -= dt[h * q + s] * (0.1f + uniform(rng));  // a_cum: a cumulative sum of dt * A, A < 0
        a[h * q + s] = acc;
      }
    }
    for (float& v : ds) v = normal(rng);
    const Grads want = reference(ds, cb, a, dt, groups, sh.hg, q);
    for (const bool vec : {false, true}) {
      if (vec && q % 8 != 0) continue;
      char at[96];
      std::snprintf(at, sizeof at, "groups=%lld hg=%d q=%d %s", static_cast<long long>(groups), sh.hg, q,
                    vec ? "vector" : "scalar");
      const Grads got = emulate(ds, cb, a, dt, groups, sh.hg, q, vec);
      ok &= close(got.d_cb, want.d_cb, 1e-5, "d CB", at);
      ok &= close(got.d_a, want.d_a, 1e-5, "d a_cum", at);
      ok &= close(got.d_dt, want.d_dt, 1e-5, "d dt", at);
    }
  }
  std::printf(ok ? "all shapes match\n" : "MISMATCH\n");
  return ok ? 0 : 1;
}
