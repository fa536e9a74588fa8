// The report's three forms for the planted run: text for people, --json for
// scripts, --html as one self-contained page with the per-rank timeline of
// one iteration and the stall chart over iterations.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "fixtures.h"
#include "profile.h"

namespace hetero::profiler {
namespace {

using test::Planted;
using test::TempDir;
constexpr int kIters = 5;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string ms3(double ms) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.3f", ms);
  return buf;
}

class Outputs : public ::testing::Test {
 protected:
  void SetUp() override {
    run = Planted::make(kIters);
    run.write_run(dir / "run");
    args.run = dir / "run";
  }
  std::string output() {
    std::ostringstream out;
    EXPECT_EQ(run_profile(args, out), 0);
    return out.str();
  }
  TempDir dir;
  test::SynthRun run;
  ProfileArgs args;
};

TEST_F(Outputs, TextNamesTheStallTheStragglerAndThePath) {
  const std::string text = output();
  const Report r = build_report(args);
  const double stall = r.modules[1].summary.mean_ms[static_cast<int>(Category::kEncoderStall)];
  // The planted median: iterations 2..5 stall 2 x (270, 250, 260, 270) µs,
  // so (520 + 540) / 2.
  EXPECT_DOUBLE_EQ(stall, 0.530);
  EXPECT_NE(text.find("llm: 16 ranks, 2 stages; medians over 4 iterations"), std::string::npos) << text;
  EXPECT_NE(text.find("encoder stall"), std::string::npos) << text;
  EXPECT_NE(text.find(ms3(stall)), std::string::npos) << text;
  EXPECT_NE(text.find("rank 17 llm lane 7 stage 1"), std::string::npos) << text;
  EXPECT_NE(text.find("STRAGGLER"), std::string::npos) << text;
  EXPECT_NE(text.find("critical path of iteration " + std::to_string(r.critical_path->iter)), std::string::npos)
      << text;
  args.brief = true;
  EXPECT_EQ(output().find("per iteration"), std::string::npos);
}

TEST_F(Outputs, JsonCarriesTheReportsNumbers) {
  args.json = true;
  const nlohmann::json j = nlohmann::json::parse(output());
  const Report r = build_report(args);
  ASSERT_EQ(j["modules"].size(), 2u);
  const auto& llm = j["modules"][1];
  EXPECT_EQ(llm["module"], "llm");
  EXPECT_EQ(llm["ranks"], 16);
  EXPECT_EQ(llm["iterations"].size(), static_cast<std::size_t>(kIters));
  EXPECT_DOUBLE_EQ(llm["summary"]["categories"]["encoder_stall"]["ms"].get<double>(), 0.530);
  EXPECT_DOUBLE_EQ(llm["summary"]["step_ms"].get<double>(), r.modules[1].summary.step_ms);
  EXPECT_EQ(llm["stages"].size(), 2u);
  EXPECT_EQ(j["stragglers"]["ranks"][0]["rank"], Planted::kStragglerRank);
  EXPECT_EQ(j["stragglers"]["ranks"][0]["flagged"], true);
  EXPECT_EQ(j["critical_path"]["iter"], r.critical_path->iter);
  EXPECT_EQ(j["critical_path"]["segments"].size(), r.critical_path->segments.size());
}

TEST_F(Outputs, HtmlIsOneSelfContainedPageWithTimelineAndStallChart) {
  args.html = dir / "report.html";
  const std::string text = output();
  EXPECT_NE(text.find("wrote " + args.html), std::string::npos);
  const std::string html = slurp(args.html);
  ASSERT_FALSE(html.empty());
  // Nothing is fetched: no links, sources or imports; the one URL is SVG's
  // namespace name, which is never loaded.
  for (const char* ref : {"<link", "src=", "@import", "https:", "url("})
    EXPECT_EQ(html.find(ref), std::string::npos) << ref;
  std::size_t at = 0;
  while ((at = html.find("http:", at)) != std::string::npos) {
    EXPECT_EQ(html.compare(at, 26, "http://www.w3.org/2000/svg"), 0) << html.substr(at, 40);
    ++at;
  }
  EXPECT_NE(html.find("id=\"timeline\""), std::string::npos);
  EXPECT_NE(html.find("id=\"stalls\""), std::string::npos);

  // The data the page draws: every rank's events of the shown iteration,
  // and each module's categories per iteration.
  const std::string open = "<script type=\"application/json\" id=\"data\">";
  const auto from = html.find(open) + open.size();
  const nlohmann::json data = nlohmann::json::parse(html.substr(from, html.find("</script>", from) - from));
  const Report r = build_report(args);
  const int shown = r.critical_path->iter;
  EXPECT_EQ(data["timeline"]["iter"], shown);
  EXPECT_EQ(data["timeline"]["ranks"].size(), run.ranks.size());
  std::size_t planted = 0;
  for (const auto& e : run.events) planted += e.iter == shown;
  EXPECT_EQ(data["timeline"]["events"].size(), planted);
  EXPECT_EQ(data["timeline"]["path"].size(), r.critical_path->segments.size());
  ASSERT_EQ(data["modules"].size(), 2u);
  const auto& llm = data["modules"][1];
  EXPECT_EQ(llm["module"], "llm");
  ASSERT_EQ(llm["iters"].size(), static_cast<std::size_t>(kIters));
  for (int i = 0; i < kIters; ++i) {
    const auto& row = llm["iters"][static_cast<std::size_t>(i)];  // [iter, step, [categories], analysed]
    EXPECT_EQ(row[0], i + 1);
    EXPECT_DOUBLE_EQ(row[2][static_cast<int>(Category::kEncoderStall)].get<double>(),
              2 * Planted::encoder_stall(i + 1) / 1000.0);
    EXPECT_EQ(row[3], i == 0 ? 0 : 1);  // iteration 1 is warm-up
  }
}

}  // namespace
}  // namespace hetero::profiler
