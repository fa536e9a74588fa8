#include "compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <set>
#include <tuple>

namespace hetero::parity {
namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

double rel_diff(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<double>::quiet_NaN();
  if (b == 0) return a == 0 ? 0.0 : std::copysign(std::numeric_limits<double>::infinity(), a);
  return (a - b) / std::fabs(b);
}

// |A - B| beyond rtol*|B| plus what printing may have rounded away.
bool exceeds(const Value& a, const Value& b, double rtol) {
  if (!std::isfinite(a.v) || !std::isfinite(b.v)) return true;
  return std::fabs(a.v - b.v) > rtol * std::fabs(b.v) + a.resolution + b.resolution;
}

std::optional<double> val(const std::optional<Value>& v) {
  if (!v) return std::nullopt;
  return v->v;
}

int family_rank(const std::string& family) {
  if (family == "vision_proj") return 0;
  if (family == "combined_embeddings") return 1;
  return 2;
}

// Tensor names in report order: family, then sample index, then name.
struct NameOrder {
  bool operator()(const std::string& x, const std::string& y) const {
    int64_t sx = -1, sy = -1;
    const std::string fx = tensor_family(x, &sx), fy = tensor_family(y, &sy);
    return std::make_tuple(family_rank(fx), fx, sx, x) < std::make_tuple(family_rank(fy), fy, sy, y);
  }
};

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

SourceSummary summarize(const Source& s) {
  SourceSummary out;
  out.path = s.path;
  out.kind = source_kind_name(s.kind);
  out.iterations = static_cast<int>(s.iterations.size());
  if (!s.iterations.empty()) {
    out.first = s.iterations.begin()->first;
    out.last = s.iterations.rbegin()->first;
  }
  for (const auto& [it, r] : s.iterations) out.skipped += r.skipped ? 1 : 0;
  out.train_iters = s.train_iters;
  for (const auto& [it, path] : s.embeddings) out.dumps.push_back(it);
  out.notes = s.notes;
  return out;
}

}  // namespace

double row_cosine(const float* a, const float* b, int64_t n) {
  double dot = 0, na = 0, nb = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double x = a[i], y = b[i];
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  if (!std::isfinite(dot) || !std::isfinite(na) || !std::isfinite(nb)) return std::numeric_limits<double>::quiet_NaN();
  if (na == 0 && nb == 0) return 1.0;
  if (na == 0 || nb == 0) return 0.0;
  return std::clamp(dot / std::sqrt(na * nb), -1.0, 1.0);
}

std::string tensor_family(const std::string& name, int64_t* sample) {
  const size_t dot = name.rfind('.');
  if (dot != std::string::npos && dot + 1 < name.size() && name.size() - dot - 1 <= 18 &&
      name.find_first_not_of("0123456789", dot + 1) == std::string::npos) {
    if (sample) *sample = std::stoll(name.substr(dot + 1));
    return name.substr(0, dot);
  }
  if (sample) *sample = -1;
  return name;
}

TensorCosine compare_tensor(const std::string& name, const SafeTensor& a, const SafeTensor& b) {
  TensorCosine t;
  t.name = name;
  t.family = tensor_family(name);
  if (a.shape != b.shape) {
    t.problem = "shape " + shape_text(a.shape) + " in A, " + shape_text(b.shape) + " in B";
    t.min = t.mean = std::numeric_limits<double>::quiet_NaN();
    return t;
  }
  // Rows are all dims but the last; a scalar or 1-D tensor is one row.
  const int64_t cols = a.shape.empty() ? 1 : a.shape.back();
  t.rows = 1;
  for (size_t i = 0; i + 1 < a.shape.size(); ++i) t.rows *= a.shape[i];
  double sum = 0;
  for (int64_t r = 0; r < t.rows; ++r) {
    const double c = row_cosine(a.values.data() + r * cols, b.values.data() + r * cols, cols);
    sum += c;
    const bool min_is_nan = t.min_row >= 0 && std::isnan(t.min);  // the first NaN row stays the minimum
    if (t.min_row < 0 || (!min_is_nan && (std::isnan(c) || c < t.min))) {
      t.min = c;
      t.min_row = r;
    }
  }
  t.mean = t.rows > 0 ? sum / static_cast<double>(t.rows) : 1.0;
  return t;
}

void compare_metrics(const Source& a, const Source& b, Report& report) {
  const Tolerances& tol = report.tol;
  std::set<int> iters;
  for (const auto& [i, r] : a.iterations) iters.insert(i);
  for (const auto& [i, r] : b.iterations) iters.insert(i);
  for (int i : iters) {
    const auto ia = a.iterations.find(i), ib = b.iterations.find(i);
    const IterRecord* ra = ia == a.iterations.end() ? nullptr : &ia->second;
    const IterRecord* rb = ib == b.iterations.end() ? nullptr : &ib->second;
    MetricRow row;
    row.iter = i;
    row.in_a = ra != nullptr;
    row.in_b = rb != nullptr;
    if (ra) {
      row.skipped_a = ra->skipped;
      row.loss_a = val(ra->lm_loss);
      row.gn_a = val(ra->grad_norm);
      row.lr_a = val(ra->lr);
    }
    if (rb) {
      row.skipped_b = rb->skipped;
      row.loss_b = val(rb->lm_loss);
      row.gn_b = val(rb->grad_norm);
      row.lr_b = val(rb->lr);
    }
    if (row.loss_a && row.loss_b) row.loss_rel = rel_diff(*row.loss_a, *row.loss_b);
    if (row.gn_a && row.gn_b) row.gn_rel = rel_diff(*row.gn_a, *row.gn_b);
    if (ra && rb && ra->lr && rb->lr) {
      const Value x = *ra->lr, y = *rb->lr;
      row.lr_equal =
          std::isfinite(x.v) && std::isfinite(y.v) &&
          std::fabs(x.v - y.v) <= tol.lr_rtol * std::max(std::fabs(x.v), std::fabs(y.v)) + x.resolution + y.resolution;
    }

    if (ra && !rb) {
      row.status = "missing in B";
      report.missing_in_b.push_back(i);
      if (!tol.allow_missing) row.problems.push_back("iteration missing in B");
    } else if (!ra && rb) {
      row.status = "missing in A";
      report.missing_in_a.push_back(i);
    } else if (row.skipped_a && row.skipped_b) {
      row.status = "skipped";
    } else if (row.skipped_a != row.skipped_b) {
      row.problems.push_back(std::string("skipped in ") + (row.skipped_a ? "A" : "B") + " only");
    } else {
      if (ra->lm_loss && rb->lm_loss) {
        ++report.compared;
        if (!std::isfinite(ra->lm_loss->v) || !std::isfinite(rb->lm_loss->v))
          row.problems.push_back("lm loss not finite (A " + fmt("%g", ra->lm_loss->v) + ", B " +
                                 fmt("%g", rb->lm_loss->v) + ")");
        else if (exceeds(*ra->lm_loss, *rb->lm_loss, tol.loss_rtol))
          row.problems.push_back("lm loss rel diff " + fmt("%+.3e", *row.loss_rel) + " exceeds rtol " +
                                 fmt("%g", tol.loss_rtol));
      } else {
        row.problems.push_back(std::string("no lm loss in ") + (!ra->lm_loss && !rb->lm_loss ? "A nor B"
                                                                : !ra->lm_loss               ? "A"
                                                                                             : "B"));
      }
      if (ra->grad_norm && rb->grad_norm) {
        if (!std::isfinite(ra->grad_norm->v) || !std::isfinite(rb->grad_norm->v))
          row.problems.push_back("grad norm not finite (A " + fmt("%g", ra->grad_norm->v) + ", B " +
                                 fmt("%g", rb->grad_norm->v) + ")");
        else if (exceeds(*ra->grad_norm, *rb->grad_norm, tol.grad_norm_rtol))
          row.problems.push_back("grad norm rel diff " + fmt("%+.3e", *row.gn_rel) + " exceeds rtol " +
                                 fmt("%g", tol.grad_norm_rtol));
      }
      if (row.lr_equal && !*row.lr_equal)
        row.problems.push_back("learning rate differs (A " + fmt("%.6e", *row.lr_a) + ", B " + fmt("%.6e", *row.lr_b) +
                               ")");
    }
    if (row.status.empty()) row.status = row.problems.empty() ? "ok" : "FAIL";
    for (const auto& p : row.problems) report.violations.push_back({i, "metrics", "", -1, p, ""});
    report.rows.push_back(std::move(row));
  }
  if (report.compared == 0)
    report.violations.push_back({-1, "metrics", "", -1, "no iteration has an lm loss in both runs", ""});
}

void compare_embeddings(const Source& a, const Source& b, Report& report) {
  const Tolerances& tol = report.tol;
  for (const auto& [i, path] : a.embeddings)
    if (!b.embeddings.count(i)) report.dumps_only_a.push_back(i);
  for (const auto& [i, path] : b.embeddings)
    if (!a.embeddings.count(i)) report.dumps_only_b.push_back(i);

  for (const auto& [iter, path_a] : a.embeddings) {
    const auto ib = b.embeddings.find(iter);
    if (ib == b.embeddings.end()) continue;
    const SafeTensorReader ra(path_a), rb(ib->second);
    std::set<std::string, NameOrder> names;
    for (const auto& [n, info] : ra.tensors()) names.insert(n);
    for (const auto& [n, info] : rb.tensors()) names.insert(n);

    std::vector<FamilyCosine> fams;
    std::vector<std::string> first_bad;  // per family: first tensor below cos_min
    double sum = 0;
    for (const auto& name : names) {
      const std::string family = tensor_family(name);
      if (fams.empty() || fams.back().family != family) {
        if (!fams.empty()) {
          fams.back().mean = fams.back().rows ? sum / static_cast<double>(fams.back().rows) : 1.0;
        }
        fams.push_back({});
        fams.back().iter = iter;
        fams.back().family = family;
        first_bad.emplace_back();
        sum = 0;
      }
      FamilyCosine& f = fams.back();
      const bool in_a = ra.has(name), in_b = rb.has(name);
      if (!in_b) {
        f.only_a.push_back(name);
        continue;
      }
      if (!in_a) {
        f.only_b.push_back(name);
        continue;
      }
      TensorCosine t = compare_tensor(name, ra.read(name), rb.read(name));
      t.iter = iter;
      if (!t.problem.empty()) {
        f.shape_mismatch.push_back(name);
      } else {
        ++f.tensors;
        if (t.rows > 0) {
          if (f.min_row < 0 || (std::isnan(t.min) && !std::isnan(f.min)) || (!std::isnan(f.min) && t.min < f.min)) {
            f.min = t.min;
            f.min_tensor = name;
            f.min_row = t.min_row;
          }
          f.rows += t.rows;
          sum += t.mean * static_cast<double>(t.rows);
        }
        if (t.rows > 0 && !(t.min >= tol.cos_min) && first_bad.back().empty()) first_bad.back() = name;
      }
      report.tensors.push_back(std::move(t));
    }
    if (!fams.empty()) fams.back().mean = fams.back().rows ? sum / static_cast<double>(fams.back().rows) : 1.0;

    for (size_t k = 0; k < fams.size(); ++k) {
      FamilyCosine& f = fams[k];
      if (!first_bad[k].empty()) {
        const auto t = std::find_if(report.tensors.begin(), report.tensors.end(),
                                    [&](const TensorCosine& x) { return x.iter == iter && x.name == first_bad[k]; });
        int bad = 0;
        for (const auto& x : report.tensors)
          if (x.iter == iter && x.family == f.family && x.problem.empty() && x.rows > 0 && !(x.min >= tol.cos_min))
            ++bad;
        report.violations.push_back(
            {iter, "embeddings", t->name, t->min_row,
             f.family + ": " + std::to_string(bad) + " of " + std::to_string(f.tensors) +
                 " tensors have a row with cosine < " + fmt("%g", tol.cos_min),
             "row " + std::to_string(t->min_row) + " cosine " + fmt("%.7f", t->min) + " < " + fmt("%g", tol.cos_min)});
      }
      if (!f.shape_mismatch.empty()) {
        const auto t = std::find_if(report.tensors.begin(), report.tensors.end(), [&](const TensorCosine& x) {
          return x.iter == iter && x.name == f.shape_mismatch.front();
        });
        report.violations.push_back(
            {iter, "embeddings", t->name, -1,
             f.family + ": " + std::to_string(f.shape_mismatch.size()) + " tensor(s) differ in shape", t->problem});
      }
      if (!tol.allow_missing_tensors && (!f.only_a.empty() || !f.only_b.empty())) {
        const bool first_in_a =
            !f.only_a.empty() && (f.only_b.empty() || NameOrder()(f.only_a.front(), f.only_b.front()));
        report.violations.push_back({iter, "embeddings", first_in_a ? f.only_a.front() : f.only_b.front(), -1,
                                     f.family + ": tensors in one run only (" + std::to_string(f.only_a.size()) +
                                         " only in A, " + std::to_string(f.only_b.size()) + " only in B)",
                                     first_in_a ? "only in A" : "only in B"});
      }
      f.violation = !first_bad[k].empty() || !f.shape_mismatch.empty() ||
                    (!tol.allow_missing_tensors && (!f.only_a.empty() || !f.only_b.empty()));
      report.families.push_back(std::move(f));
    }
  }
}

Report compare_sources(const Source& a, const Source& b, const Tolerances& tol) {
  Report report;
  report.tol = tol;
  report.a = summarize(a);
  report.b = summarize(b);
  compare_metrics(a, b, report);
  compare_embeddings(a, b, report);
  std::stable_sort(report.violations.begin(), report.violations.end(), [](const Violation& x, const Violation& y) {
    return std::make_pair(x.iter, x.kind == "metrics" ? 0 : 1) < std::make_pair(y.iter, y.kind == "metrics" ? 0 : 1);
  });
  return report;
}

const Violation* Report::first_bad_iteration() const { return violations.empty() ? nullptr : &violations.front(); }

const Violation* Report::first_bad_tensor() const {
  for (const auto& v : violations)
    if (v.kind == "embeddings" && !v.tensor.empty()) return &v;
  return nullptr;
}

std::string Report::verdict() const {
  if (pass()) {
    std::string s = "PASS: " + std::to_string(compared) + " iterations within lm loss rtol " +
                    fmt("%g", tol.loss_rtol) + " and grad norm rtol " + fmt("%g", tol.grad_norm_rtol);
    int64_t rows = 0;
    double min = 1;
    std::set<int> iters;
    for (const auto& f : families) {
      rows += f.rows;
      iters.insert(f.iter);
      if (f.rows > 0) min = std::min(min, f.min);
    }
    if (rows > 0)
      s += "; embeddings at " + std::to_string(iters.size()) + " iteration(s), " + std::to_string(rows) +
           " rows, min cosine " + fmt("%.7f", min) + " >= " + fmt("%g", tol.cos_min);
    else
      s += "; no embedding rows compared";
    return s;
  }
  const Violation* v = first_bad_iteration();
  std::string s =
      v->iter < 0 ? "FAIL: " + v->what : "FAIL: first bad iteration " + std::to_string(v->iter) + ": " + v->what;
  if (const Violation* t = first_bad_tensor())
    s += "; first bad tensor " + t->tensor + " at iteration " + std::to_string(t->iter) + ": " + t->detail;
  else
    s += "; no bad tensor";
  s += " (" + std::to_string(violations.size()) + " violation" + (violations.size() == 1 ? "" : "s") + ")";
  return s;
}

}  // namespace hetero::parity
