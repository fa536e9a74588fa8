// Renderings: JSON fields, Markdown tables, the SVG's curves and axes.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "compare.h"
#include "report.h"
#include "svg.h"

using namespace hetero::parity;

namespace {

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + what.size())) ++n;
  return n;
}

// Five iterations of A and B, a planted 1e-3 at iteration 4, B lacking iteration 5.
Report sample_report() {
  Report r;
  r.a.path = "runs/a&b<c>";
  r.a.kind = "run directory";
  r.b.path = "ref.log";
  r.b.kind = "Megatron log";
  for (int i = 1; i <= 5; ++i) {
    MetricRow row;
    row.iter = i;
    row.in_a = true;
    row.in_b = i < 5;
    row.loss_a = 10.0 - i + (i == 4 ? 6e-3 : 0.0);
    if (row.in_b) {
      row.loss_b = 10.0 - i;
      row.loss_rel = (*row.loss_a - *row.loss_b) / *row.loss_b;
      row.status = i == 4 ? "FAIL" : "ok";
    } else {
      row.status = "missing in B";
    }
    if (i == 4) row.problems.push_back("lm loss rel diff +1.000e-03 exceeds rtol 1e-05");
    if (i == 5) row.problems.push_back("iteration missing in B");
    r.rows.push_back(row);
  }
  r.compared = 4;
  r.missing_in_b = {5};
  r.violations = {{4, "metrics", "", -1, "lm loss rel diff +1.000e-03 exceeds rtol 1e-05", ""},
                  {5, "metrics", "", -1, "iteration missing in B", ""}};
  FamilyCosine f;
  f.iter = 1;
  f.family = "vision_proj";
  f.tensors = 2;
  f.rows = 6;
  f.min = 0.5;
  f.mean = 0.9;
  f.min_tensor = "vision_proj.1";
  f.min_row = 2;
  f.violation = true;
  r.families.push_back(f);
  r.violations.push_back({1, "embeddings", "vision_proj.1", 2,
                          "vision_proj: 1 of 2 tensors have a row with cosine < 0.99999",
                          "row 2 cosine 0.5000000 < 0.99999"});
  std::stable_sort(r.violations.begin(), r.violations.end(),
                   [](const Violation& x, const Violation& y) { return x.iter < y.iter; });
  return r;
}

}  // namespace

TEST(Report, IterationRanges) {
  EXPECT_EQ(iteration_ranges({}), "none");
  EXPECT_EQ(iteration_ranges({1, 2, 3, 7, 9, 10}), "1-3, 7, 9, 10");
  EXPECT_EQ(iteration_ranges({4}), "4");
}

TEST(Report, JsonCarriesTheTableTheCosinesAndTheVerdict) {
  const auto j = nlohmann::json::parse(render_json(sample_report()));
  EXPECT_EQ(j["format"], "hetero-parity-report-v1");
  EXPECT_EQ(j["pass"], false);
  EXPECT_EQ(j["exit_code"], 1);
  EXPECT_EQ(j["first_bad_iteration"], 1);
  EXPECT_EQ(j["first_bad_tensor"]["tensor"], "vision_proj.1");
  EXPECT_EQ(j["first_bad_tensor"]["row"], 2);
  EXPECT_EQ(j["first_bad_tensor"]["what"], "row 2 cosine 0.5000000 < 0.99999");
  ASSERT_EQ(j["iterations"].size(), 5u);
  EXPECT_EQ(j["iterations"][3]["iter"], 4);
  EXPECT_NEAR(j["iterations"][3]["lm_loss_rel_diff"].get<double>(), 1e-3, 1e-12);
  EXPECT_EQ(j["iterations"][3]["violation"], true);
  EXPECT_TRUE(j["iterations"][4]["lm_loss_b"].is_null());
  EXPECT_EQ(j["iterations"][4]["status"], "missing in B");
  EXPECT_EQ(j["missing_in_b"], nlohmann::json::array({5}));
  EXPECT_EQ(j["embeddings"]["families"][0]["min_cosine"], 0.5);
  EXPECT_EQ(j["embeddings"]["families"][0]["min_tensor"], "vision_proj.1");
  EXPECT_EQ(j["violations"].size(), 3u);
}

TEST(Report, MarkdownHasBothTables) {
  const std::string md = render_markdown(sample_report());
  EXPECT_EQ(md.rfind("## hetero-parity: FAIL", 0), 0u);
  EXPECT_NE(md.find("| iter | lm loss A | lm loss B | rel diff |"), std::string::npos);
  EXPECT_NE(md.find("| 4 | 6.0060000e+00 | 6.0000000e+00 | +1.000e-03 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 1 | vision_proj | 2 | 6 | 0.5000000 | 0.9000000 | vision_proj.1 row 2 | **FAIL** |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("- missing in B: 5"), std::string::npos) << md;
}

TEST(Svg, OverlaysBothCurvesAndTheRelativeDifference) {
  const Report r = sample_report();
  const std::string svg = render_svg(r);
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
  EXPECT_EQ(count(svg, "<text"), count(svg, "</text>"));
  EXPECT_EQ(svg.find("<script"), std::string::npos);
  EXPECT_EQ(svg.find("href"), std::string::npos) << "self-contained";
  // axes labelled, names escaped
  EXPECT_NE(svg.find(">iteration</text>"), std::string::npos);
  EXPECT_NE(svg.find(">lm loss</text>"), std::string::npos);
  EXPECT_NE(svg.find("relative &#916; lm loss"), std::string::npos);
  EXPECT_NE(svg.find("runs/a&amp;b&lt;c&gt;"), std::string::npos);
  EXPECT_EQ(svg.find("a&b"), std::string::npos);
  // A: 5 points (one M, four L); B: 4 points; relative difference: 4 points,
  // one of them a violation (red), plus the tolerance line.
  const size_t a_start = svg.find("stroke=\"#1f77b4\" stroke-width=\"1.5\"/>");
  ASSERT_NE(a_start, std::string::npos);
  const size_t a_path = svg.rfind("<path d=\"", a_start);
  const std::string a_d = svg.substr(a_path, a_start - a_path);
  EXPECT_EQ(count(a_d, "M"), 1u);
  EXPECT_EQ(count(a_d, "L"), 4u);
  const size_t b_end = svg.find("stroke=\"#ff7f0e\" stroke-width=\"2\"");
  const size_t b_path = svg.rfind("<path d=\"", b_end);
  const std::string b_d = svg.substr(b_path, b_end - b_path);
  EXPECT_EQ(count(b_d, "M"), 1u);
  EXPECT_EQ(count(b_d, "L"), 3u);
  EXPECT_EQ(count(svg, "<circle"), 4u);
  EXPECT_EQ(count(svg, "r=\"2.5\" fill=\"#d62728\""), 1u);
  EXPECT_NE(svg.find("loss rtol 1e-05"), std::string::npos);
}
