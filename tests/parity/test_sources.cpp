// Reading the inputs of a diff: Megatron-LM logs (skipped iterations, extra
// fields, prefixes), metrics.jsonl files and run directories.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "compare.h"
#include "fixtures.h"
#include "hetero/errors.h"
#include "report.h"
#include "sources.h"

using namespace hetero::parity;
using parity_test::TempDir;

namespace {

// A Megatron-LM iteration line, printed the way Megatron prints it.
std::string megatron_line(int iter, int total, double lr, std::optional<double> loss, std::optional<double> gnorm,
                          int skipped, const std::string& prefix = " ") {
  char buf[1024];
  std::string s = prefix;
  std::snprintf(buf, sizeof(buf),
                "iteration %8d/%8d | consumed samples: %12d | elapsed time per iteration (ms): %.1f | "
                "throughput per GPU (TFLOP/s/GPU): %.1f | learning rate: %.6E | global batch size: %5d |",
                iter, total, iter * 8, 1234.5, 101.2, lr, 8);
  s += buf;
  if (loss) {
    std::snprintf(buf, sizeof(buf), " lm loss: %.6E | load_balancing_loss: %.6E |", *loss, 1.000102);
    s += buf;
  }
  s += " loss scale: 1.0 |";
  if (gnorm) {
    std::snprintf(buf, sizeof(buf), " grad norm: %.3f | num zeros: 0.0 | params norm: 345.678 |", *gnorm);
    s += buf;
  }
  std::snprintf(buf, sizeof(buf), " number of skipped iterations: %3d | number of nan iterations: %3d |", skipped, 0);
  return s + buf;
}

double loss_at(int i) { return 10.5 - 0.37 * i + 0.001 * i * i; }
double gnorm_at(int i) { return 3.0 / i + 0.123456; }
double lr_at(int i) { return 3e-3 * std::min(i, 2) / 2.0; }

}  // namespace

TEST(MegatronLog, ParsesIterationLinesWithPrefixesExtraFieldsAndSkips) {
  std::stringstream log;
  log << "using world size: 8, data-parallel size: 8\n";
  log << "[before the start of training step] datetime: 2024-05-01 10:00:00\n";
  log << megatron_line(1, 100, 1.5e-3, 10.25, 12.3456, 0, " [2024-05-01 10:00:01] ") << "\n";
  log << "[Rank 7] (after 1 iterations) memory (MB) | allocated: 1234.5 | max allocated: 2345.6\n";
  log << megatron_line(2, 100, 3e-3, 9.75, 11.0, 0, "[default7]: ") << "\n";
  log << megatron_line(3, 100, 3e-3, std::nullopt, std::nullopt, 1) << "\n";  // skipped: no loss, no grad norm
  log << megatron_line(4, 100, 3e-3, std::nullopt, 1e9, 1) << "\n";           // skipped with a grad norm printed
  log << " validation loss at iteration 5 | lm loss value: 9.500000E+00 | lm loss PPL: 1.3E+04 |\n";
  log << megatron_line(10, 100, 2.5e-3, 9.125, 7.5, 0) << "\n";  // log interval: 5..9 absent
  log << "iteration 11 was not logged\n";

  const Source s = parse_megatron_log(log, "train.log");
  EXPECT_EQ(s.kind, SourceKind::kMegatronLog);
  EXPECT_EQ(s.train_iters, 100);
  ASSERT_EQ(s.iterations.size(), 5u);
  std::vector<int> iters;
  for (const auto& [i, r] : s.iterations) iters.push_back(i);
  EXPECT_EQ(iters, (std::vector<int>{1, 2, 3, 4, 10}));

  const IterRecord& r1 = s.iterations.at(1);
  ASSERT_TRUE(r1.lm_loss && r1.grad_norm && r1.lr);
  EXPECT_DOUBLE_EQ(r1.lm_loss->v, 10.25);
  EXPECT_DOUBLE_EQ(r1.lm_loss->resolution, 5e-6);  // 1.025000E+01: six decimals of 10^1
  EXPECT_DOUBLE_EQ(r1.grad_norm->v, 12.346);       // printed %.3f
  EXPECT_DOUBLE_EQ(r1.grad_norm->resolution, 5e-4);
  EXPECT_DOUBLE_EQ(r1.lr->v, 1.5e-3);
  EXPECT_FALSE(r1.skipped);
  EXPECT_DOUBLE_EQ(s.iterations.at(2).lm_loss->v, 9.75);
  EXPECT_TRUE(s.iterations.at(3).skipped);
  EXPECT_FALSE(s.iterations.at(3).lm_loss.has_value());
  EXPECT_FALSE(s.iterations.at(3).grad_norm.has_value());
  EXPECT_TRUE(s.iterations.at(4).skipped);
  EXPECT_DOUBLE_EQ(s.iterations.at(10).lm_loss->v, 9.125);
}

TEST(MegatronLog, ReadsTheTrainersOwnIterationLine) {
  hetero::IterationMetrics m = parity_test::metrics(7, 4.2345678, 0.98765, 2.5e-4);
  const auto r = parse_megatron_line(hetero::format_iteration_line(m, 20, 8));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->iter, 7);
  EXPECT_NEAR(r->lm_loss->v, 4.2345678, r->lm_loss->resolution);
  EXPECT_NEAR(r->grad_norm->v, 0.98765, r->grad_norm->resolution);
  EXPECT_NEAR(r->lr->v, 2.5e-4, r->lr->resolution);
  EXPECT_FALSE(r->skipped);
  EXPECT_FALSE(parse_megatron_line(" validation loss at iteration 10 | lm loss value: 1.0E+00 |").has_value());
  EXPECT_FALSE(parse_megatron_line("reiteration 5/ 10 | lm loss: 1.0 |").has_value());
}

TEST(MegatronLog, NoIterationLineIsAnInputError) {
  std::stringstream log("hello\nworld\n");
  EXPECT_THROW(parse_megatron_log(log, "x.log"), hetero::ConfigError);
}

TEST(PrintedResolution, IsHalfTheLastDigit) {
  EXPECT_DOUBLE_EQ(printed_resolution("12.345"), 5e-4);
  EXPECT_DOUBLE_EQ(printed_resolution("1.234567E+01"), 5e-6);
  EXPECT_DOUBLE_EQ(printed_resolution("3.000000E-04"), 5e-11);
  EXPECT_DOUBLE_EQ(printed_resolution("7"), 0.5);
  EXPECT_EQ(printed_resolution("nan"), 0);
}

// Done-criterion 2: a Megatron log (skipped iteration, extra fields, a gap)
// held against a metrics.jsonl of the same training.
TEST(MegatronLog, DiffsAgainstMetricsJsonl) {
  TempDir tmp;
  std::vector<hetero::IterationMetrics> records;
  for (int i = 1; i <= 6; ++i) {
    auto m = parity_test::metrics(i, loss_at(i), gnorm_at(i), lr_at(i));
    m.skipped = i >= 3 ? 1 : 0;  // cumulative: iteration 3 was skipped
    records.push_back(m);
  }
  parity_test::write_metrics(tmp / "run", records);

  auto write_log = [&](double planted_at_6) {
    std::string log = "Megatron-LM reference, 8 GPUs\n";
    for (int i : {1, 2, 3, 5, 6}) {  // iteration 4 is not in the log
      const bool skipped = i == 3;
      const double loss = loss_at(i) * (i == 6 ? 1 + planted_at_6 : 1.0);
      log += megatron_line(i, 6, lr_at(i), skipped ? std::nullopt : std::optional<double>(loss),
                           skipped ? std::nullopt : std::optional<double>(gnorm_at(i)), skipped ? 1 : 0) +
             "\n";
    }
    parity_test::write_text(tmp / "ref.log", log);
  };

  write_log(0.0);
  Tolerances tol;  // fp32: 1e-5, though the log prints grad norm to 3 decimals only
  Report r = compare_sources(load_source(tmp / "run"), load_source(tmp / "ref.log"), tol);
  ASSERT_EQ(r.rows.size(), 6u);
  EXPECT_EQ(r.rows[0].status, "ok");
  EXPECT_EQ(r.rows[1].status, "ok");
  EXPECT_EQ(r.rows[2].status, "skipped");
  EXPECT_TRUE(r.rows[2].skipped_a && r.rows[2].skipped_b);
  EXPECT_EQ(r.rows[3].status, "missing in B");
  EXPECT_EQ(r.rows[4].status, "ok");
  EXPECT_EQ(r.rows[5].status, "ok");
  EXPECT_EQ(r.missing_in_b, (std::vector<int>{4}));
  EXPECT_EQ(r.compared, 4);
  ASSERT_EQ(r.violations.size(), 1u);
  EXPECT_EQ(r.first_bad_iteration()->iter, 4);
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_EQ(r.b.kind, "Megatron log");
  EXPECT_EQ(r.b.iterations, 5);
  EXPECT_EQ(r.b.skipped, 1);
  EXPECT_NE(render_text(r).find("missing in B: 4 (violation"), std::string::npos) << render_text(r);
  EXPECT_NE(render_text(r).find("lengths differ: A has 6 iterations (last 6), B has 5 (last 6)"), std::string::npos);
  // The printed grad norm differs from the exact one by less than its resolution
  ASSERT_TRUE(r.rows[0].gn_rel.has_value());
  EXPECT_GT(std::fabs(*r.rows[0].gn_rel), 1e-5);

  tol.allow_missing = true;
  r = compare_sources(load_source(tmp / "run"), load_source(tmp / "ref.log"), tol);
  EXPECT_TRUE(r.pass()) << r.verdict();

  write_log(5e-4);
  r = compare_sources(load_source(tmp / "run"), load_source(tmp / "ref.log"), tol);
  EXPECT_EQ(r.exit_code(), 1);
  EXPECT_EQ(r.first_bad_iteration()->iter, 6);
  // rel diff = (A - B)/|B| = 1/(1 + 5e-4) - 1, up to the 7 printed digits
  EXPECT_NEAR(*r.rows[5].loss_rel, 1 / (1 + 5e-4) - 1, 1e-6);
  EXPECT_EQ(r.rows[5].status, "FAIL");

  // And the other way round: the log as A, the run as B; iteration 4 of B is only reported.
  tol.allow_missing = false;
  write_log(0.0);
  r = compare_sources(load_source(tmp / "ref.log"), load_source(tmp / "run"), tol);
  EXPECT_TRUE(r.pass()) << r.verdict();
  EXPECT_EQ(r.missing_in_a, (std::vector<int>{4}));
}

TEST(Sources, SkippedInOneRunOnlyIsAViolation) {
  TempDir tmp;
  std::vector<hetero::IterationMetrics> a, b;
  for (int i = 1; i <= 3; ++i) {
    a.push_back(parity_test::metrics(i, loss_at(i), gnorm_at(i), lr_at(i)));
    b.push_back(a.back());
    b.back().skipped = i >= 2 ? 1 : 0;
  }
  parity_test::write_metrics(tmp / "a", a);
  parity_test::write_metrics(tmp / "b", b);
  const Report r = compare_sources(load_source(tmp / "a"), load_source(tmp / "b"), Tolerances{});
  ASSERT_EQ(r.violations.size(), 1u);
  EXPECT_EQ(r.violations[0].iter, 2);
  EXPECT_EQ(r.violations[0].what, "skipped in B only");
}

TEST(Sources, MetricsJsonlDetailsAndErrors) {
  TempDir tmp;
  // null loss (a NaN written by the trainer), a repeated iteration (resume), blank lines
  parity_test::write_text(tmp / "m.jsonl",
                          "{\"iter\": 1, \"lm_loss\": 2.5, \"grad_norm\": 1.0, \"lr\": 0.1}\n\n"
                          "{\"iter\": 2, \"lm_loss\": null}\n"
                          "{\"iter\": 1, \"lm_loss\": 2.25}\n");
  const Source s = load_source(tmp / "m.jsonl");
  EXPECT_EQ(s.kind, SourceKind::kMetricsJsonl);
  ASSERT_EQ(s.iterations.size(), 2u);
  EXPECT_DOUBLE_EQ(s.iterations.at(1).lm_loss->v, 2.25);
  EXPECT_FALSE(s.iterations.at(1).grad_norm.has_value()) << "the last record of a repeated iteration wins";
  ASSERT_TRUE(s.iterations.at(2).lm_loss.has_value()) << "null is a non-finite value, not an absent one";
  EXPECT_TRUE(std::isnan(s.iterations.at(2).lm_loss->v));
  EXPECT_FALSE(s.iterations.at(2).grad_norm.has_value()) << "absent is absent";
  EXPECT_FALSE(s.iterations.at(2).skipped);
  ASSERT_EQ(s.notes.size(), 1u);
  EXPECT_NE(s.notes[0].find("1 iteration(s) appear more than once"), std::string::npos);

  parity_test::write_text(tmp / "bad.jsonl", "{\"iter\": 1, \"lm_loss\": 1}\n{\"lm_loss\": 2}\n");
  try {
    load_source(tmp / "bad.jsonl");
    FAIL() << "expected ConfigError";
  } catch (const hetero::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.jsonl:2: not a metrics record"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_source(tmp / "does-not-exist"), hetero::ConfigError);
  std::filesystem::create_directories(tmp / "empty-dir");
  EXPECT_THROW(load_source(tmp / "empty-dir"), hetero::ConfigError);
  parity_test::write_text(tmp / "notes.txt", "just text\n");
  EXPECT_THROW(load_source(tmp / "notes.txt"), hetero::ConfigError);
}

TEST(Sources, RunDirectoryListsEmbeddingDumps) {
  TempDir tmp;
  parity_test::write_metrics(tmp / "run", {parity_test::metrics(1, 1.0, 1.0, 1.0)});
  parity_test::write_dump(tmp / "run", 1, {{"vision_proj.8", parity_test::pattern_tensor(2, 4, 0)}});
  parity_test::write_dump(tmp / "run", 12, {{"vision_proj.96", parity_test::pattern_tensor(2, 4, 0)}});
  parity_test::write_text(tmp / "run/embeddings/notes.txt", "ignored");
  const Source s = load_source(tmp / "run");
  EXPECT_EQ(s.kind, SourceKind::kRunDir);
  ASSERT_EQ(s.embeddings.size(), 2u);
  EXPECT_EQ(s.embeddings.at(1), tmp / "run/embeddings/iter-000001.safetensors");
  EXPECT_EQ(s.embeddings.at(12), tmp / "run/embeddings/iter-000012.safetensors");
}
