// The critical path of one iteration, walked back across ranks, against a
// path worked out by hand from the scenario's event times (fixtures.cpp,
// critical_path_run): encoder rank 0 feeds LLM lane 0, whose stage 0 is
// rank 1 and stage 1 is rank 2; one microbatch.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fixtures.h"
#include "profile.h"

namespace hetero::profiler {
namespace {

using test::TempDir;

// One expected segment: rank, region name ("" for a gap), kind, start and
// end in µs from the iteration start.
struct Expected {
  int rank;
  std::string region;
  std::string kind;
  int from_us, to_us;
};

CriticalPath path_of(bool late_stage1_optimizer) {
  TempDir dir;
  test::critical_path_run(late_stage1_optimizer).write_run(dir.path());
  ProfileArgs a;
  a.run = dir.path();
  a.warmup = 0;
  const Report r = build_report(a);
  if (!r.critical_path) throw std::runtime_error("no critical path");
  return *r.critical_path;
}

void expect_segments(const CriticalPath& p, const std::vector<Expected>& want) {
  ASSERT_EQ(p.segments.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    const PathSegment& s = p.segments[i];
    SCOPED_TRACE("segment " + std::to_string(i));
    EXPECT_EQ(s.role.rank, want[i].rank);
    EXPECT_EQ(s.region < 0 ? std::string() : std::string(region_name(s.region)), want[i].region);
    EXPECT_EQ(s.kind, want[i].kind);
    EXPECT_DOUBLE_EQ(s.start_ms, want[i].from_us / 1000.0);
    EXPECT_DOUBLE_EQ(s.dur_ms, (want[i].to_us - want[i].from_us) / 1000.0);
  }
}

double total(const CriticalPath& p, const std::string& module, const std::string& what) {
  for (const PathTotal& t : p.totals)
    if (t.module == module && t.what == what) return t.ms;
  return 0;
}

// The three optimizer steps end together; rank 0 entered last (780), so the
// path ends on its own step and walks back: its reduce, its backward after a
// bridge wait that stage 0's bridge/send ended (690), stage 0's backward
// after a pipeline wait that stage 1's pp/send ended (635), stage 1's work
// after a wait ended by stage 0's pp/send (335), stage 0's forward after a
// stall ended by the encoder's bridge/send (110), the encoder's forward.
TEST(CriticalPath, FollowsEachWaitToTheRankThatEndedIt) {
  const CriticalPath p = path_of(false);
  EXPECT_EQ(p.iter, 1);
  EXPECT_DOUBLE_EQ(p.iteration_ms, 0.860);
  expect_segments(p, {{0, "encoder/forward", "work", 0, 100},
                      {0, "bridge/send", "work", 100, 110},
                      {1, "llm/encoder_stall", "transfer", 110, 130},
                      {1, "llm/forward", "work", 130, 330},
                      {1, "pp/send", "work", 330, 335},
                      {2, "pp/wait", "transfer", 335, 345},
                      {2, "llm/forward", "work", 345, 445},
                      {2, "llm/backward", "work", 445, 630},
                      {2, "pp/send", "work", 630, 635},
                      {1, "pp/wait", "transfer", 635, 640},
                      {1, "llm/backward", "work", 640, 680},
                      {1, "bridge/send", "work", 680, 690},
                      {0, "bridge/wait", "transfer", 690, 700},
                      {0, "encoder/backward", "work", 700, 750},
                      {0, "grad/reduce", "work", 750, 760},
                      {0, "", "gap", 760, 780},
                      {0, "optim/step", "work", 780, 860}});
  // The path covers the iteration without holes or overlaps.
  EXPECT_DOUBLE_EQ(p.covered_ms, 0.860);
  EXPECT_EQ(p.hops, (std::vector<int>{0, 1, 2, 1, 0}));
  EXPECT_DOUBLE_EQ(total(p, "llm", "compute"), (200 + 100 + 185 + 40) / 1000.0);
  EXPECT_DOUBLE_EQ(total(p, "llm", "encoder_stall"), 0.020);
  EXPECT_DOUBLE_EQ(total(p, "llm", "pipeline_wait"), (10 + 5) / 1000.0);
  EXPECT_DOUBLE_EQ(total(p, "encoder", "compute"), 0.150);
  EXPECT_DOUBLE_EQ(total(p, "encoder", "bridge_wait"), 0.010);
  EXPECT_DOUBLE_EQ(total(p, "encoder", "optimizer"), 0.080);
  EXPECT_DOUBLE_EQ(total(p, "encoder", "gap"), 0.020);
}

// Stage 1 enters the optimizer step last (800): the step's tail belongs to
// it, and so does the idle time before it (700..800) - the path no longer
// returns to stage 0 and the encoder after the pipeline.
TEST(CriticalPath, ACollectiveHandsThePathToItsLastArrival) {
  const CriticalPath p = path_of(true);
  expect_segments(p, {{0, "encoder/forward", "work", 0, 100},
                      {0, "bridge/send", "work", 100, 110},
                      {1, "llm/encoder_stall", "transfer", 110, 130},
                      {1, "llm/forward", "work", 130, 330},
                      {1, "pp/send", "work", 330, 335},
                      {2, "pp/wait", "transfer", 335, 345},
                      {2, "llm/forward", "work", 345, 445},
                      {2, "llm/backward", "work", 445, 630},
                      {2, "pp/send", "work", 630, 635},
                      {2, "", "gap", 635, 640},
                      {2, "grad/reduce", "work", 640, 700},
                      {2, "", "gap", 700, 800},
                      {0, "optim/step", "collective", 800, 860}});
  EXPECT_DOUBLE_EQ(p.covered_ms, 0.860);
  EXPECT_EQ(p.hops, (std::vector<int>{0, 1, 2, 0}));
  EXPECT_DOUBLE_EQ(total(p, "llm", "gap"), (5 + 100) / 1000.0);
}

}  // namespace
}  // namespace hetero::profiler
