#include "report.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

namespace hetero::parity {
namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

std::string cell(const std::optional<double>& v, const char* f) { return v ? fmt(f, *v) : "-"; }

std::string pad(const std::string& s, size_t width, bool left = false) {
  if (s.size() >= width) return s;
  return left ? s + std::string(width - s.size(), ' ') : std::string(width - s.size(), ' ') + s;
}

std::string lr_cell(const MetricRow& row) {
  if (!row.lr_equal) return "-";
  return *row.lr_equal ? "yes" : "NO";
}

std::string status_cell(const MetricRow& row) {
  if (row.problems.empty()) return row.status;
  std::string s = row.status + ":";
  for (size_t i = 0; i < row.problems.size(); ++i) s += (i ? "; " : " ") + row.problems[i];
  return s;
}

std::string source_line(const SourceSummary& s) {
  std::string out =
      s.path + " (" + s.kind + "): " + std::to_string(s.iterations) + " iteration" + (s.iterations == 1 ? "" : "s");
  if (s.iterations > 0) out += " " + std::to_string(s.first) + ".." + std::to_string(s.last);
  if (s.train_iters > 0) out += " of " + std::to_string(s.train_iters);
  if (s.skipped > 0) out += ", " + std::to_string(s.skipped) + " skipped";
  out += s.dumps.empty() ? ", no embedding dumps" : ", embeddings at " + iteration_ranges(s.dumps);
  return out;
}

std::string tolerance_line(const Tolerances& t) {
  return "lm loss rtol " + fmt("%g", t.loss_rtol) + ", grad norm rtol " + fmt("%g", t.grad_norm_rtol) + ", lr rtol " +
         fmt("%g", t.lr_rtol) + ", embedding cosine >= " + fmt("%g", t.cos_min) +
         (t.allow_missing ? ", missing iterations allowed" : "") +
         (t.allow_missing_tensors ? ", missing tensors allowed" : "");
}

std::string min_at(const FamilyCosine& f) {
  return f.min_row < 0 ? "-" : f.min_tensor + " row " + std::to_string(f.min_row);
}

std::string cos_cell(const FamilyCosine& f, double v) { return f.rows > 0 ? fmt("%.7f", v) : "-"; }

std::string names_list(const std::vector<std::string>& names, size_t max = 5) {
  std::string s;
  for (size_t i = 0; i < names.size() && i < max; ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > max) s += ", ... (" + std::to_string(names.size()) + ")";
  return s;
}

// Lines about what is missing, skipped or odd; shared by text and markdown.
std::vector<std::string> findings(const Report& r) {
  std::vector<std::string> out;
  if (r.a.iterations != r.b.iterations || r.a.last != r.b.last)
    out.push_back("lengths differ: A has " + std::to_string(r.a.iterations) + " iterations (last " +
                  std::to_string(r.a.last) + "), B has " + std::to_string(r.b.iterations) + " (last " +
                  std::to_string(r.b.last) + ")");
  if (!r.missing_in_b.empty())
    out.push_back("missing in B: " + iteration_ranges(r.missing_in_b) +
                  (r.tol.allow_missing ? " (allowed by --allow-missing)" : " (violation; --allow-missing accepts it)"));
  if (!r.missing_in_a.empty()) out.push_back("missing in A: " + iteration_ranges(r.missing_in_a) + " (reported only)");
  std::vector<int> skipped;
  for (const auto& row : r.rows)
    if (row.skipped_a || row.skipped_b) skipped.push_back(row.iter);
  if (!skipped.empty()) out.push_back("skipped iterations (no optimizer step): " + iteration_ranges(skipped));
  if (!r.dumps_only_a.empty())
    out.push_back("embedding dumps only in A: " + iteration_ranges(r.dumps_only_a) + " (reported only)");
  if (!r.dumps_only_b.empty())
    out.push_back("embedding dumps only in B: " + iteration_ranges(r.dumps_only_b) + " (reported only)");
  for (const auto& f : r.families) {
    const std::string where = "iteration " + std::to_string(f.iter) + " " + f.family + ": ";
    if (!f.only_a.empty()) out.push_back(where + "only in A: " + names_list(f.only_a));
    if (!f.only_b.empty()) out.push_back(where + "only in B: " + names_list(f.only_b));
    if (!f.shape_mismatch.empty()) out.push_back(where + "shapes differ: " + names_list(f.shape_mismatch));
  }
  for (const auto& n : r.a.notes) out.push_back("A: " + n);
  for (const auto& n : r.b.notes) out.push_back("B: " + n);
  return out;
}

nlohmann::ordered_json opt_json(const std::optional<double>& v) {
  if (!v || !std::isfinite(*v)) return nullptr;
  return *v;
}

nlohmann::ordered_json source_json(const SourceSummary& s) {
  nlohmann::ordered_json j;
  j["path"] = s.path;
  j["kind"] = s.kind;
  j["iterations"] = s.iterations;
  j["first"] = s.first;
  j["last"] = s.last;
  j["train_iters"] = s.train_iters > 0 ? nlohmann::ordered_json(s.train_iters) : nlohmann::ordered_json(nullptr);
  j["skipped"] = s.skipped;
  j["embedding_dumps"] = s.dumps;
  j["notes"] = s.notes;
  return j;
}

nlohmann::ordered_json cos_json(double v, bool any) {
  if (!any || !std::isfinite(v)) return nullptr;
  return v;
}

}  // namespace

std::string iteration_ranges(const std::vector<int>& iters) {
  std::string s;
  for (size_t i = 0; i < iters.size();) {
    size_t j = i;
    while (j + 1 < iters.size() && iters[j + 1] == iters[j] + 1) ++j;
    if (!s.empty()) s += ", ";
    s += std::to_string(iters[i]);
    if (j > i) s += (j == i + 1 ? ", " : "-") + std::to_string(iters[j]);
    i = j + 1;
  }
  return s.empty() ? "none" : s;
}

std::string render_text(const Report& r, const TextOptions& opt) {
  std::ostringstream o;
  o << "A: " << source_line(r.a) << "\n";
  o << "B: " << source_line(r.b) << "\n";
  o << "tolerances: " << tolerance_line(r.tol) << "\n\n";
  o << pad("iter", 7) << pad("lm loss A", 16) << pad("lm loss B", 16) << pad("rel diff", 12) << pad("grad norm A", 15)
    << pad("grad norm B", 15) << pad("rel diff", 12) << pad("lr eq", 6) << "  status\n";
  int hidden = 0;
  for (const auto& row : r.rows) {
    if (opt.brief && row.status == "ok") {
      ++hidden;
      continue;
    }
    o << pad(std::to_string(row.iter), 7) << pad(cell(row.loss_a, "%.7e"), 16) << pad(cell(row.loss_b, "%.7e"), 16)
      << pad(cell(row.loss_rel, "%+.3e"), 12) << pad(cell(row.gn_a, "%.6e"), 15) << pad(cell(row.gn_b, "%.6e"), 15)
      << pad(cell(row.gn_rel, "%+.3e"), 12) << pad(lr_cell(row), 6) << "  " << status_cell(row) << "\n";
  }
  if (hidden > 0) o << "  (" << hidden << " ok rows left out by --brief)\n";

  if (!r.families.empty()) {
    o << "\nembeddings (cosine per row, A vs B):\n";
    o << pad("iter", 7) << "  " << pad("family", 22, true) << pad("tensors", 8) << pad("rows", 10) << pad("min cos", 12)
      << pad("mean cos", 12) << "  " << pad("min at", 32, true) << "status\n";
    for (const auto& f : r.families)
      o << pad(std::to_string(f.iter), 7) << "  " << pad(f.family, 22, true) << pad(std::to_string(f.tensors), 8)
        << pad(std::to_string(f.rows), 10) << pad(cos_cell(f, f.min), 12) << pad(cos_cell(f, f.mean), 12) << "  "
        << pad(min_at(f), 32, true) << (f.violation ? "FAIL" : "ok") << "\n";
  } else {
    o << "\nembeddings: no iteration dumped by both runs\n";
  }

  const auto notes = findings(r);
  if (!notes.empty()) {
    o << "\n";
    for (const auto& n : notes) o << n << "\n";
  }
  o << "\n" << r.verdict() << "\n";
  return o.str();
}

std::string render_json(const Report& r) {
  nlohmann::ordered_json j;
  j["format"] = "hetero-parity-report-v1";
  j["pass"] = r.pass();
  j["exit_code"] = r.exit_code();
  j["verdict"] = r.verdict();
  const Violation* fi = r.first_bad_iteration();
  j["first_bad_iteration"] = fi && fi->iter >= 0 ? nlohmann::ordered_json(fi->iter) : nlohmann::ordered_json(nullptr);
  if (const Violation* t = r.first_bad_tensor())
    j["first_bad_tensor"] = {{"iter", t->iter},
                             {"tensor", t->tensor},
                             {"row", t->row >= 0 ? nlohmann::ordered_json(t->row) : nlohmann::ordered_json(nullptr)},
                             {"what", t->detail}};
  else
    j["first_bad_tensor"] = nullptr;
  j["a"] = source_json(r.a);
  j["b"] = source_json(r.b);
  j["tolerances"] = {{"loss_rtol", r.tol.loss_rtol},
                     {"grad_norm_rtol", r.tol.grad_norm_rtol},
                     {"lr_rtol", r.tol.lr_rtol},
                     {"cos_min", r.tol.cos_min},
                     {"allow_missing", r.tol.allow_missing},
                     {"allow_missing_tensors", r.tol.allow_missing_tensors}};
  j["compared_iterations"] = r.compared;
  j["missing_in_a"] = r.missing_in_a;
  j["missing_in_b"] = r.missing_in_b;
  auto& rows = j["iterations"] = nlohmann::ordered_json::array();
  for (const auto& row : r.rows) {
    nlohmann::ordered_json x;
    x["iter"] = row.iter;
    x["in_a"] = row.in_a;
    x["in_b"] = row.in_b;
    x["lm_loss_a"] = opt_json(row.loss_a);
    x["lm_loss_b"] = opt_json(row.loss_b);
    x["lm_loss_rel_diff"] = opt_json(row.loss_rel);
    x["grad_norm_a"] = opt_json(row.gn_a);
    x["grad_norm_b"] = opt_json(row.gn_b);
    x["grad_norm_rel_diff"] = opt_json(row.gn_rel);
    x["lr_a"] = opt_json(row.lr_a);
    x["lr_b"] = opt_json(row.lr_b);
    x["lr_equal"] = row.lr_equal ? nlohmann::ordered_json(*row.lr_equal) : nlohmann::ordered_json(nullptr);
    x["skipped_a"] = row.skipped_a;
    x["skipped_b"] = row.skipped_b;
    x["status"] = row.status;
    x["violation"] = row.violation();
    x["problems"] = row.problems;
    rows.push_back(std::move(x));
  }
  auto& emb = j["embeddings"];
  emb["dumps_only_in_a"] = r.dumps_only_a;
  emb["dumps_only_in_b"] = r.dumps_only_b;
  emb["families"] = nlohmann::ordered_json::array();
  for (const auto& f : r.families) {
    nlohmann::ordered_json x;
    x["iter"] = f.iter;
    x["family"] = f.family;
    x["tensors"] = f.tensors;
    x["rows"] = f.rows;
    x["min_cosine"] = cos_json(f.min, f.rows > 0);
    x["mean_cosine"] = cos_json(f.mean, f.rows > 0);
    x["min_tensor"] = f.min_row >= 0 ? nlohmann::ordered_json(f.min_tensor) : nlohmann::ordered_json(nullptr);
    x["min_row"] = f.min_row >= 0 ? nlohmann::ordered_json(f.min_row) : nlohmann::ordered_json(nullptr);
    x["only_in_a"] = f.only_a;
    x["only_in_b"] = f.only_b;
    x["shape_mismatch"] = f.shape_mismatch;
    x["violation"] = f.violation;
    emb["families"].push_back(std::move(x));
  }
  emb["tensors"] = nlohmann::ordered_json::array();
  for (const auto& t : r.tensors) {
    nlohmann::ordered_json x;
    x["iter"] = t.iter;
    x["tensor"] = t.name;
    x["rows"] = t.rows;
    x["min_cosine"] = cos_json(t.min, t.problem.empty() && t.rows > 0);
    x["mean_cosine"] = cos_json(t.mean, t.problem.empty() && t.rows > 0);
    x["min_row"] = t.min_row >= 0 ? nlohmann::ordered_json(t.min_row) : nlohmann::ordered_json(nullptr);
    x["problem"] = t.problem.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(t.problem);
    emb["tensors"].push_back(std::move(x));
  }
  j["violations"] = nlohmann::ordered_json::array();
  for (const auto& v : r.violations) {
    nlohmann::ordered_json x;
    x["iter"] = v.iter >= 0 ? nlohmann::ordered_json(v.iter) : nlohmann::ordered_json(nullptr);
    x["kind"] = v.kind;
    x["tensor"] = v.tensor.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(v.tensor);
    x["row"] = v.row >= 0 ? nlohmann::ordered_json(v.row) : nlohmann::ordered_json(nullptr);
    x["what"] = v.what;
    x["detail"] = v.detail.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(v.detail);
    j["violations"].push_back(std::move(x));
  }
  return j.dump(2) + "\n";
}

std::string render_markdown(const Report& r) {
  std::ostringstream o;
  o << "## hetero-parity: " << (r.pass() ? "PASS" : "FAIL") << "\n\n";
  o << "- A: `" << r.a.path << "`" << source_line(r.a).substr(r.a.path.size()) << "\n";
  o << "- B: `" << r.b.path << "`" << source_line(r.b).substr(r.b.path.size()) << "\n";
  o << "- tolerances: " << tolerance_line(r.tol) << "\n\n";
  o << "**" << r.verdict() << "**\n\n";
  o << "| iter | lm loss A | lm loss B | rel diff | grad norm A | grad norm B | rel diff | lr equal | status |\n";
  o << "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: | --- |\n";
  for (const auto& row : r.rows)
    o << "| " << row.iter << " | " << cell(row.loss_a, "%.7e") << " | " << cell(row.loss_b, "%.7e") << " | "
      << cell(row.loss_rel, "%+.3e") << " | " << cell(row.gn_a, "%.6e") << " | " << cell(row.gn_b, "%.6e") << " | "
      << cell(row.gn_rel, "%+.3e") << " | " << lr_cell(row) << " | "
      << (row.violation() ? "**" + status_cell(row) + "**" : status_cell(row)) << " |\n";
  if (!r.families.empty()) {
    o << "\n### Embeddings (cosine per row)\n\n";
    o << "| iter | family | tensors | rows | min cos | mean cos | min at | status |\n";
    o << "| ---: | --- | ---: | ---: | ---: | ---: | --- | --- |\n";
    for (const auto& f : r.families)
      o << "| " << f.iter << " | " << f.family << " | " << f.tensors << " | " << f.rows << " | " << cos_cell(f, f.min)
        << " | " << cos_cell(f, f.mean) << " | " << min_at(f) << " | " << (f.violation ? "**FAIL**" : "ok") << " |\n";
  } else {
    o << "\nEmbeddings: no iteration dumped by both runs.\n";
  }
  const auto notes = findings(r);
  if (!notes.empty()) {
    o << "\n";
    for (const auto& n : notes) o << "- " << n << "\n";
  }
  return o.str();
}

}  // namespace hetero::parity
