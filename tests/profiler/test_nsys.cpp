// nsys SQLite exports (NVTX_EVENTS, names inline or through StringIds, ns
// since each session's start) of the planted run give the same report as
// its JSON traces.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "fixtures.h"
#include "hetero/errors.h"
#include "nsys_source.h"
#include "profile.h"
#include "render.h"

namespace hetero::profiler {
namespace {

using test::Planted;
using test::TempDir;

// The report as JSON, without what names its source.
nlohmann::json comparable(const Report& r) {
  nlohmann::json j = nlohmann::json::parse(render_json(r));
  j.erase("source");
  j.erase("notes");
  return j;
}

TEST(Nsys, TheSameRunAsSqliteExportsGivesTheSameReport) {
  TempDir dir;
  const test::SynthRun run = Planted::make(6);
  run.write_run(dir / "run");
  const auto exports = run.write_nsys(dir / "nsys", Planted::kEpochUs - 5'000'000);

  ProfileArgs json_args;
  json_args.run = dir / "run";
  ProfileArgs nsys_args;
  nsys_args.nsys = exports;
  nsys_args.run = dir / "run";  // roles from its config.yaml: exports carry none
  const Report from_json = build_report(json_args);
  const Report from_nsys = build_report(nsys_args);

  EXPECT_EQ(comparable(from_nsys).dump(1), comparable(from_json).dump(1));
  // Not two empty reports: the planted straggler is in both.
  ASSERT_EQ(from_nsys.stragglers.size(), 1u);
  EXPECT_EQ(from_nsys.stragglers[0].role.rank, Planted::kStragglerRank);
  // Ranges outside the "hetero" domain (a bogus llm/forward of iteration 2)
  // are not read; ranges of ours without "iter=" are counted and ignored.
  std::string notes;
  for (const auto& n : from_nsys.notes) notes += n + "\n";
  EXPECT_NE(notes.find("18 events or ranges without an iteration were ignored"), std::string::npos) << notes;
}

TEST(Nsys, WithoutTheRunDirectoryRanksHaveNoRoleAndTheReportSaysSo) {
  TempDir dir;
  const auto exports = Planted::make(3).write_nsys(dir.path(), Planted::kEpochUs);
  ProfileArgs a;
  a.nsys = exports;
  a.warmup = 0;
  const Report r = build_report(a);
  ASSERT_EQ(r.modules.size(), 1u);
  EXPECT_EQ(r.modules[0].module, "unknown");
  EXPECT_EQ(r.modules[0].ranks, 18);
  std::string notes;
  for (const auto& n : r.notes) notes += n + "\n";
  EXPECT_NE(notes.find("give --run RUN"), std::string::npos) << notes;
}

TEST(Nsys, RangeNamesFollowTheTrainersLabels) {
  int region = 0, iter = 0, mb = 0;
  ASSERT_TRUE(parse_nvtx_name("llm/forward iter=12 mb=3", region, iter, mb));
  EXPECT_EQ(region, kLlmForward);
  EXPECT_EQ(iter, 12);
  EXPECT_EQ(mb, 3);
  ASSERT_TRUE(parse_nvtx_name("optim/step iter=7", region, iter, mb));
  EXPECT_EQ(region, kOptimStep);
  EXPECT_EQ(mb, -1);
  ASSERT_TRUE(parse_nvtx_name("my/range iter=7", region, iter, mb));
  EXPECT_EQ(region, -1);  // of the form, not of design §8
  EXPECT_FALSE(parse_nvtx_name("llm/forward", region, iter, mb));
  EXPECT_FALSE(parse_nvtx_name("llm/forward iter=x", region, iter, mb));
  EXPECT_FALSE(parse_nvtx_name("llm/forward iter=3 mb=1 extra", region, iter, mb));
}

TEST(Nsys, AFileThatIsNotAnExportIsNamedInTheError) {
  TempDir dir;
  const std::string path = dir / "rank-00000.sqlite";
  std::ofstream(path) << "not a database";
  ProfileArgs a;
  a.nsys = {path};
  try {
    build_report(a);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hetero::profiler
