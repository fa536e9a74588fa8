// The comparison on synthesized run directories: planted loss / grad norm /
// lr deltas and rotated embedding rows come out of the report exactly as
// planted.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "compare.h"
#include "fixtures.h"
#include "report.h"
#include "sources.h"

using namespace hetero::parity;
using hetero::SafeTensor;
using parity_test::TempDir;

namespace {

constexpr int kGbs = 4;
constexpr int64_t kHidden = 16, kSeq = 12;

double base_loss(int i) { return 11.0 - 0.25 * i; }
double base_gnorm(int i) { return 2.0 + 0.1 * i; }
double base_lr(int i) { return 1e-3 * i; }

// One iteration's dump: samples s = iter*GBS + j; sample j has 2(j+1) image
// rows, except j == 2 which has no image (no vision_proj entry).
std::map<std::string, SafeTensor> make_dump(int iter) {
  std::map<std::string, SafeTensor> d;
  for (int j = 0; j < kGbs; ++j) {
    const int s = iter * kGbs + j;
    if (j != 2) d["vision_proj." + std::to_string(s)] = parity_test::pattern_tensor(2 * (j + 1), kHidden, s);
    d["combined_embeddings." + std::to_string(s)] = parity_test::pattern_tensor(kSeq, kHidden, 100 + s);
  }
  return d;
}

using Tokens = std::vector<std::string>;

// The whitespace-separated cells of the first line of `text` whose cells
// start with `first` (and `second`, when given).
Tokens row_tokens(const std::string& text, const std::string& first, const std::string& second = "") {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream cells(line);
    Tokens t;
    std::string c;
    while (cells >> c) t.push_back(c);
    if (!t.empty() && t[0] == first && (second.empty() || (t.size() > 1 && t[1] == second))) return t;
  }
  return {};
}

Report diff(const std::string& a, const std::string& b, Tolerances tol = {}) {
  return compare_sources(load_source(a), load_source(b), tol);
}

}  // namespace

TEST(RowCosine, KnownValues) {
  const float a[] = {1, 0, 0}, b[] = {0, 1, 0}, c[] = {2, 0, 0}, d[] = {-1, 0, 0}, z[] = {0, 0, 0};
  const float e[] = {1, 1, 0};
  EXPECT_DOUBLE_EQ(row_cosine(a, b, 3), 0.0);
  EXPECT_DOUBLE_EQ(row_cosine(a, c, 3), 1.0);
  EXPECT_DOUBLE_EQ(row_cosine(a, d, 3), -1.0);
  EXPECT_NEAR(row_cosine(a, e, 3), std::sqrt(0.5), 1e-15);
  EXPECT_DOUBLE_EQ(row_cosine(z, z, 3), 1.0) << "two zero rows agree";
  EXPECT_DOUBLE_EQ(row_cosine(z, a, 3), 0.0) << "one zero row does not";
  EXPECT_DOUBLE_EQ(row_cosine(a, z, 3), 0.0);
  const float n[] = {NAN, 0, 0};
  EXPECT_TRUE(std::isnan(row_cosine(a, n, 3)));
}

TEST(TensorFamily, SplitsTheSampleIndex) {
  int64_t s = 0;
  EXPECT_EQ(tensor_family("vision_proj.17", &s), "vision_proj");
  EXPECT_EQ(s, 17);
  EXPECT_EQ(tensor_family("combined_embeddings.0", &s), "combined_embeddings");
  EXPECT_EQ(s, 0);
  EXPECT_EQ(tensor_family("weird", &s), "weird");
  EXPECT_EQ(s, -1);
}

TEST(CompareMetrics, PlantedDeltasAppearExactlyInTheTable) {
  TempDir tmp;
  // loss deltas planted in A relative to B: within tolerance at 4, beyond at 6;
  // a grad norm delta at 8; a different learning rate at 9.
  const std::map<int, double> loss_delta = {{4, 2e-6}, {6, 3e-4}, {7, -1e-3}};
  std::vector<hetero::IterationMetrics> a, b;
  for (int i = 1; i <= 10; ++i) {
    b.push_back(parity_test::metrics(i, base_loss(i), base_gnorm(i), base_lr(i)));
    const double d = loss_delta.count(i) ? loss_delta.at(i) : 0.0;
    a.push_back(parity_test::metrics(i, base_loss(i) * (1 + d), base_gnorm(i) * (i == 8 ? 1.001 : 1.0),
                                     i == 9 ? 2 * base_lr(i) : base_lr(i)));
  }
  parity_test::write_metrics(tmp / "a", a);
  parity_test::write_metrics(tmp / "b", b);
  const Report r = diff(tmp / "a", tmp / "b");

  ASSERT_EQ(r.rows.size(), 10u);
  EXPECT_EQ(r.compared, 10);
  for (const auto& row : r.rows) {
    SCOPED_TRACE("iteration " + std::to_string(row.iter));
    const double d = loss_delta.count(row.iter) ? loss_delta.at(row.iter) : 0.0;
    EXPECT_DOUBLE_EQ(*row.loss_b, base_loss(row.iter));
    EXPECT_NEAR(*row.loss_rel, d, 1e-13);
    EXPECT_NEAR(*row.gn_rel, row.iter == 8 ? 1e-3 : 0.0, 1e-13);
    EXPECT_EQ(*row.lr_equal, row.iter != 9);
    const bool bad = row.iter == 6 || row.iter == 7 || row.iter == 8 || row.iter == 9;
    EXPECT_EQ(row.violation(), bad);
    EXPECT_EQ(row.status, bad ? "FAIL" : "ok");
  }
  ASSERT_EQ(r.violations.size(), 4u);
  EXPECT_EQ(r.first_bad_iteration()->iter, 6);
  EXPECT_EQ(r.first_bad_iteration()->what, "lm loss rel diff +3.000e-04 exceeds rtol 1e-05");
  EXPECT_EQ(r.violations[1].what, "lm loss rel diff -1.000e-03 exceeds rtol 1e-05");
  EXPECT_EQ(r.violations[2].what, "grad norm rel diff +1.000e-03 exceeds rtol 1e-05");
  EXPECT_EQ(r.violations[3].what, "learning rate differs (A 1.800000e-02, B 9.000000e-03)");
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_EQ(r.first_bad_tensor(), nullptr);
  EXPECT_EQ(
      r.verdict(),
      "FAIL: first bad iteration 6: lm loss rel diff +3.000e-04 exceeds rtol 1e-05; no bad tensor (4 violations)");

  // The text table: one line per iteration with both losses, the signed relative differences and lr equality.
  const std::string text = render_text(r);
  EXPECT_EQ(row_tokens(text, "6"),
            (Tokens{"6", "9.5028500e+00", "9.5000000e+00", "+3.000e-04", "2.600000e+00", "2.600000e+00", "+0.000e+00",
                    "yes", "FAIL:", "lm", "loss", "rel", "diff", "+3.000e-04", "exceeds", "rtol", "1e-05"}));
  EXPECT_EQ(row_tokens(text, "4"), (Tokens{"4", "1.0000020e+01", "1.0000000e+01", "+2.000e-06", "2.400000e+00",
                                           "2.400000e+00", "+0.000e+00", "yes", "ok"}));
  EXPECT_EQ(row_tokens(text, "8").at(6), "+1.000e-03");
  EXPECT_EQ(row_tokens(text, "9").at(7), "NO");

  // Looser tolerances accept the same runs, except the learning rate.
  Tolerances loose;
  loose.loss_rtol = 2e-3;
  loose.grad_norm_rtol = 2e-3;
  const Report r2 = diff(tmp / "a", tmp / "b", loose);
  ASSERT_EQ(r2.violations.size(), 1u);
  EXPECT_EQ(r2.first_bad_iteration()->iter, 9);
}

TEST(CompareMetrics, MissingIterationsAndDifferentLengthsAreReportedNotCrashed) {
  TempDir tmp;
  std::vector<hetero::IterationMetrics> a, b;
  for (int i = 1; i <= 8; ++i)
    if (i != 3) a.push_back(parity_test::metrics(i, base_loss(i), base_gnorm(i), base_lr(i)));
  for (int i = 1; i <= 5; ++i)
    if (i != 2) b.push_back(parity_test::metrics(i, base_loss(i), base_gnorm(i), base_lr(i)));
  parity_test::write_metrics(tmp / "a", a);
  parity_test::write_metrics(tmp / "b", b);
  Report r = diff(tmp / "a", tmp / "b");
  EXPECT_EQ(r.missing_in_b, (std::vector<int>{2, 6, 7, 8}));
  EXPECT_EQ(r.missing_in_a, (std::vector<int>{3}));
  EXPECT_EQ(r.compared, 3);
  EXPECT_EQ(r.first_bad_iteration()->iter, 2);
  EXPECT_EQ(r.violations.size(), 4u) << "only iterations of A missing in B violate";
  const std::string text = render_text(r);
  EXPECT_NE(text.find("missing in B: 2, 6-8 (violation"), std::string::npos) << text;
  EXPECT_NE(text.find("missing in A: 3 (reported only)"), std::string::npos) << text;
  EXPECT_NE(text.find("lengths differ: A has 7 iterations (last 8), B has 4 (last 5)"), std::string::npos) << text;

  Tolerances tol;
  tol.allow_missing = true;
  r = diff(tmp / "a", tmp / "b", tol);
  EXPECT_TRUE(r.pass()) << r.verdict();

  // No iteration in common at all is a failure, not a pass.
  parity_test::write_metrics(tmp / "c", {parity_test::metrics(100, 1, 1, 1)});
  r = diff(tmp / "c", tmp / "b", tol);
  EXPECT_FALSE(r.pass());
  EXPECT_EQ(r.verdict(), "FAIL: no iteration has an lm loss in both runs; no bad tensor (1 violation)");
}

TEST(CompareMetrics, NonFiniteLossIsAViolation) {
  TempDir tmp;
  auto m = parity_test::metrics(1, NAN, 1, 1);  // metrics_to_json writes null, read back as NaN
  parity_test::write_metrics(tmp / "a", {m, parity_test::metrics(2, 1, INFINITY, 1)});
  parity_test::write_metrics(tmp / "b", {parity_test::metrics(1, 1, 1, 1), parity_test::metrics(2, 1, 1, 1)});
  const Report r = diff(tmp / "a", tmp / "b");
  ASSERT_EQ(r.violations.size(), 2u);
  EXPECT_EQ(r.violations[0].what, "lm loss not finite (A nan, B 1)");
  EXPECT_EQ(r.violations[1].what, "grad norm not finite (A nan, B 1)") << "JSON has no inf: it is written as null";
  EXPECT_EQ(r.violations[1].iter, 2);
}

class EmbeddingParity : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<hetero::IterationMetrics> m;
    for (int i = 1; i <= 3; ++i) m.push_back(parity_test::metrics(i, base_loss(i), base_gnorm(i), base_lr(i)));
    for (const char* run : {"a", "b"}) {
      parity_test::write_metrics(tmp / run, m);
      for (int it : {1, 2}) parity_test::write_dump(tmp / run, it, make_dump(it));
    }
  }
  TempDir tmp;
};

TEST_F(EmbeddingParity, IdenticalDumpsPass) {
  const Report r = diff(tmp / "a", tmp / "b");
  EXPECT_TRUE(r.pass()) << r.verdict();
  ASSERT_EQ(r.families.size(), 4u);  // 2 iterations x 2 families
  EXPECT_EQ(r.families[0].family, "vision_proj");
  EXPECT_EQ(r.families[0].tensors, 3);
  EXPECT_EQ(r.families[0].rows, 2 + 4 + 8);
  EXPECT_EQ(r.families[1].family, "combined_embeddings");
  EXPECT_EQ(r.families[1].tensors, 4);
  EXPECT_EQ(r.families[1].rows, 4 * kSeq);
  for (const auto& f : r.families) {
    EXPECT_NEAR(f.min, 1.0, 1e-12);
    EXPECT_NEAR(f.mean, 1.0, 1e-12);
  }
  EXPECT_EQ(r.tensors.size(), 14u);
  EXPECT_EQ(r.verdict().substr(0, 5), "PASS:");
}

TEST_F(EmbeddingParity, RotatedRowsGiveCosineOfTheAngle) {
  const double theta_v = 0.05, theta_c = 0.006;  // cos: 0.99875026, 0.99998200
  auto dump = make_dump(1);
  // In B: sample 5's second image row turned by theta_v, sample 7's row 3 by
  // theta_c, sample 4's row 0 scaled (same direction: cosine 1), and row 2 of
  // sample 6 zero in both runs (cosine 1).
  auto& v5 = dump.at("vision_proj.5");
  auto& c7 = dump.at("combined_embeddings.7");
  auto& c4 = dump.at("combined_embeddings.4");
  auto& c6 = dump.at("combined_embeddings.6");
  parity_test::set_row(c6, 2, std::vector<float>(kHidden, 0.0f));
  parity_test::write_dump(tmp / "a", 1, dump);
  parity_test::set_row(v5, 1, parity_test::rotate(parity_test::row(v5, 1), theta_v));
  parity_test::set_row(c7, 3, parity_test::rotate(parity_test::row(c7, 3), theta_c));
  auto scaled = parity_test::row(c4, 0);
  for (auto& x : scaled) x *= 4;
  parity_test::set_row(c4, 0, scaled);
  parity_test::write_dump(tmp / "b", 1, dump);

  const Report r = diff(tmp / "a", tmp / "b");
  ASSERT_EQ(r.families.size(), 4u);
  const FamilyCosine& vp = r.families[0];
  EXPECT_EQ(vp.iter, 1);
  EXPECT_EQ(vp.family, "vision_proj");
  EXPECT_NEAR(vp.min, std::cos(theta_v), 1e-6);
  EXPECT_EQ(vp.min_tensor, "vision_proj.5");
  EXPECT_EQ(vp.min_row, 1);
  EXPECT_NEAR(vp.mean, (13 + std::cos(theta_v)) / 14, 1e-7);
  EXPECT_TRUE(vp.violation);
  const FamilyCosine& ce = r.families[1];
  EXPECT_EQ(ce.family, "combined_embeddings");
  EXPECT_NEAR(ce.min, std::cos(theta_c), 1e-6);
  EXPECT_EQ(ce.min_tensor, "combined_embeddings.7");
  EXPECT_EQ(ce.min_row, 3);
  EXPECT_NEAR(ce.mean, (47 + std::cos(theta_c)) / 48, 1e-7);
  EXPECT_TRUE(ce.violation);
  EXPECT_FALSE(r.families[2].violation);
  EXPECT_FALSE(r.families[3].violation);

  // Per tensor: sample 4's scaled row and sample 6's zero rows count as equal.
  for (const auto& t : r.tensors) {
    if (t.iter == 1 && (t.name == "combined_embeddings.4" || t.name == "combined_embeddings.6")) {
      EXPECT_NEAR(t.min, 1.0, 1e-7) << t.name;
    }
  }

  EXPECT_EQ(r.exit_code(), 1);
  ASSERT_EQ(r.violations.size(), 2u);
  EXPECT_EQ(r.first_bad_iteration()->iter, 1);
  ASSERT_NE(r.first_bad_tensor(), nullptr);
  EXPECT_EQ(r.first_bad_tensor()->tensor, "vision_proj.5");
  EXPECT_EQ(r.first_bad_tensor()->row, 1);
  EXPECT_EQ(r.violations[1].tensor, "combined_embeddings.7");
  EXPECT_EQ(r.verdict(),
            "FAIL: first bad iteration 1: vision_proj: 1 of 3 tensors have a row with cosine < 0.99999; first bad "
            "tensor vision_proj.5 at iteration 1: row 1 cosine 0.9987503 < 0.99999 (2 violations)");
  const std::string text = render_text(r);
  const std::string marker = "embeddings (cosine per row, A vs B):";
  ASSERT_NE(text.find(marker), std::string::npos) << text;
  const std::string emb = text.substr(text.find(marker));
  EXPECT_EQ(row_tokens(emb, "1", "vision_proj"),
            (Tokens{"1", "vision_proj", "3", "14", "0.9987503", "0.9999107", "vision_proj.5", "row", "1", "FAIL"}));
  EXPECT_EQ(row_tokens(emb, "1", "combined_embeddings"),
            (Tokens{"1", "combined_embeddings", "4", "48", "0.9999820", "0.9999996", "combined_embeddings.7", "row",
                    "3", "FAIL"}));

  // Thresholds between the two angles: only vision_proj violates; below both: pass.
  Tolerances tol;
  tol.cos_min = 0.999;
  Report r2 = diff(tmp / "a", tmp / "b", tol);
  ASSERT_EQ(r2.violations.size(), 1u);
  EXPECT_EQ(r2.first_bad_tensor()->tensor, "vision_proj.5");
  tol.cos_min = 0.998;
  r2 = diff(tmp / "a", tmp / "b", tol);
  EXPECT_TRUE(r2.pass()) << r2.verdict();
}

TEST_F(EmbeddingParity, ZeroedRowInOneRunHasCosineZero) {
  auto dump = make_dump(2);
  parity_test::set_row(dump.at("combined_embeddings.9"), 5, std::vector<float>(kHidden, 0.0f));
  parity_test::write_dump(tmp / "b", 2, dump);
  const Report r = diff(tmp / "a", tmp / "b");
  const FamilyCosine& ce = r.families[3];
  EXPECT_EQ(ce.iter, 2);
  EXPECT_EQ(ce.min, 0.0);
  EXPECT_EQ(ce.min_tensor, "combined_embeddings.9");
  EXPECT_EQ(ce.min_row, 5);
  EXPECT_EQ(r.first_bad_tensor()->tensor, "combined_embeddings.9");
  EXPECT_EQ(r.first_bad_iteration()->iter, 2);
}

TEST_F(EmbeddingParity, NonFiniteRowIsAViolation) {
  auto dump = make_dump(2);
  dump.at("vision_proj.9").values[3] = NAN;
  parity_test::write_dump(tmp / "b", 2, dump);
  const Report r = diff(tmp / "a", tmp / "b");
  EXPECT_TRUE(std::isnan(r.families[2].min));
  EXPECT_EQ(r.families[2].min_tensor, "vision_proj.9");
  EXPECT_EQ(r.first_bad_tensor()->tensor, "vision_proj.9");
}

TEST_F(EmbeddingParity, MissingTensorsShapesAndDumps) {
  auto dump = make_dump(2);
  dump.erase("vision_proj.8");                                         // in A only
  dump["vision_proj.9"] = parity_test::pattern_tensor(5, kHidden, 9);  // [5, 16] instead of [4, 16]
  dump["vision_proj.12"] = parity_test::pattern_tensor(2, kHidden, 12);  // in B only; sorts after 8 by sample
  parity_test::write_dump(tmp / "b", 2, dump);
  parity_test::write_dump(tmp / "a", 3, make_dump(3));  // iteration dumped by A only
  Report r = diff(tmp / "a", tmp / "b");
  EXPECT_EQ(r.dumps_only_a, (std::vector<int>{3}));
  const FamilyCosine& vp = r.families[2];
  EXPECT_EQ(vp.iter, 2);
  EXPECT_EQ(vp.only_a, (std::vector<std::string>{"vision_proj.8"}));
  EXPECT_EQ(vp.shape_mismatch, (std::vector<std::string>{"vision_proj.9"}));
  EXPECT_EQ(vp.only_b, (std::vector<std::string>{"vision_proj.12"}));
  EXPECT_EQ(vp.tensors, 1);  // vision_proj.11 only
  EXPECT_EQ(vp.rows, 8);
  ASSERT_EQ(r.violations.size(), 2u);
  EXPECT_EQ(r.violations[0].what, "vision_proj: 1 tensor(s) differ in shape");
  EXPECT_EQ(r.violations[0].tensor, "vision_proj.9");
  EXPECT_EQ(r.violations[0].detail, "shape [4, 16] in A, [5, 16] in B");
  EXPECT_EQ(r.violations[1].what, "vision_proj: tensors in one run only (1 only in A, 1 only in B)");
  EXPECT_EQ(r.violations[1].tensor, "vision_proj.8");
  EXPECT_EQ(r.violations[1].detail, "only in A");
  const std::string text = render_text(r);
  EXPECT_NE(text.find("embedding dumps only in A: 3 (reported only)"), std::string::npos) << text;
  EXPECT_NE(text.find("iteration 2 vision_proj: only in A: vision_proj.8"), std::string::npos) << text;

  Tolerances tol;
  tol.allow_missing_tensors = true;
  r = diff(tmp / "a", tmp / "b", tol);
  ASSERT_EQ(r.violations.size(), 1u) << "a shape mismatch still violates";
  EXPECT_EQ(r.first_bad_tensor()->tensor, "vision_proj.9");
}

TEST_F(EmbeddingParity, RunAgainstALogHasNoEmbeddingsToCompare) {
  std::string log;
  for (int i = 1; i <= 3; ++i) {
    char buf[256];
    std::snprintf(buf, sizeof(buf), " iteration %8d/%8d | learning rate: %.6E | lm loss: %.6E | grad norm: %.3f |", i,
                  3, base_lr(i), base_loss(i), base_gnorm(i));
    log += std::string(buf) + "\n";
  }
  parity_test::write_text(tmp / "ref.log", log);
  const Report r = diff(tmp / "a", tmp / "ref.log");
  EXPECT_TRUE(r.pass()) << r.verdict();
  EXPECT_TRUE(r.families.empty());
  EXPECT_EQ(r.a.dumps, (std::vector<int>{1, 2}));
  EXPECT_NE(r.verdict().find("no embedding rows compared"), std::string::npos);
}
