// The comparison of run A against reference B: a Report, computed without
// printing anything. Rules (also in `hetero-parity diff --help`):
//  - relative differences are (A - B) / |B|;
//  - lm loss / grad norm violate when |A - B| > rtol * |B| + the printed
//    resolution of both values, or when either is not finite; lr must agree
//    to --lr-rtol the same way;
//  - an iteration of A missing in B is a violation (unless allow_missing); one
//    of B missing in A is only reported; an iteration skipped in one run and
//    not the other is a violation, skipped in both is not compared;
//  - embeddings: every tensor present in both dumps of an iteration is
//    compared row by row (cosine; two zero rows count 1, one zero row 0); a
//    family violates when its min cosine < cos_min (NaN included), a tensor
//    whose shapes differ always violates, a tensor in only one of two dumps of
//    the same iteration violates unless allow_missing_tensors; an iteration
//    dumped by only one run is reported, not a violation.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "hetero/safetensors.h"
#include "sources.h"

namespace hetero::parity {

struct Tolerances {
  double loss_rtol = 1e-5;
  double grad_norm_rtol = 1e-5;
  double lr_rtol = 1e-6;
  double cos_min = 0.99999;
  bool allow_missing = false;          // iterations of A missing in B are not violations
  bool allow_missing_tensors = false;  // tensors in only one of two dumps are not violations
};

struct MetricRow {
  int iter = 0;
  bool in_a = false, in_b = false;
  bool skipped_a = false, skipped_b = false;
  std::optional<double> loss_a, loss_b, loss_rel;  // rel = (A - B) / |B|
  std::optional<double> gn_a, gn_b, gn_rel;
  std::optional<double> lr_a, lr_b;
  std::optional<bool> lr_equal;
  std::string status;                 // ok | FAIL | missing in A | missing in B | skipped
  std::vector<std::string> problems;  // why it violates, e.g. "lm loss rel diff +1.000e-03 exceeds 1e-05"
  bool violation() const { return !problems.empty(); }
};

struct TensorCosine {
  int iter = 0;
  std::string name, family;
  int64_t rows = 0;
  double min = 1, mean = 1;  // NaN when a row had non-finite values
  int64_t min_row = -1;
  std::string problem;  // shape mismatch, or empty
};

struct FamilyCosine {
  int iter = 0;
  std::string family;
  int tensors = 0;  // compared (present in both, same shape)
  int64_t rows = 0;
  double min = 1, mean = 1;
  std::string min_tensor;
  int64_t min_row = -1;
  std::vector<std::string> only_a, only_b, shape_mismatch;
  bool violation = false;
};

struct Violation {
  int iter = 0;        // -1: about the runs as a whole
  std::string kind;    // "metrics" or "embeddings"
  std::string tensor;  // embeddings only, may be empty for a missing dump
  int64_t row = -1;
  std::string what;    // the whole violation, e.g. "vision_proj: 2 of 8 tensors have a row with cosine < 0.99999"
  std::string detail;  // about `tensor` alone, e.g. "row 3 cosine 0.8660254 < 0.99999"
};

struct SourceSummary {
  std::string path, kind;
  int iterations = 0, first = 0, last = 0, skipped = 0, train_iters = 0;
  std::vector<int> dumps;
  std::vector<std::string> notes;
};

struct Report {
  SourceSummary a, b;
  Tolerances tol;
  std::vector<MetricRow> rows;  // every iteration of A or B, ascending
  std::vector<int> missing_in_a, missing_in_b;
  int compared = 0;  // iterations whose lm loss was compared
  std::vector<int> dumps_only_a, dumps_only_b;
  std::vector<FamilyCosine> families;  // by iteration, then vision_proj, combined_embeddings, others
  std::vector<TensorCosine> tensors;   // same order, then by sample index
  std::vector<Violation> violations;   // by iteration; metrics before embeddings

  bool pass() const { return violations.empty(); }
  int exit_code() const { return pass() ? 0 : 1; }
  const Violation* first_bad_iteration() const;  // nullptr when none
  const Violation* first_bad_tensor() const;     // the first embeddings violation naming a tensor
  std::string verdict() const;                   // one line: PASS ... / FAIL: first bad iteration ...
};

// Cosine of two rows; both all-zero -> 1, exactly one all-zero -> 0; NaN if
// a value is not finite. Accumulates in double.
double row_cosine(const float* a, const float* b, int64_t n);

// "vision_proj.12" -> family "vision_proj", sample 12; a name without a
// numeric suffix is its own family with sample -1.
std::string tensor_family(const std::string& name, int64_t* sample = nullptr);

// Row-wise comparison of two tensors of one name (rows = all but the last
// dim). Shapes must match, else `problem` says how they differ.
TensorCosine compare_tensor(const std::string& name, const SafeTensor& a, const SafeTensor& b);

// Metrics part of the report (rows, missing, compared, metric violations).
void compare_metrics(const Source& a, const Source& b, Report& report);

// Embeddings part: reads the dumps both runs have, one tensor at a time.
// Throws SafeTensorsError on malformed files.
void compare_embeddings(const Source& a, const Source& b, Report& report);

// The whole comparison.
Report compare_sources(const Source& a, const Source& b, const Tolerances& tol);

}  // namespace hetero::parity
