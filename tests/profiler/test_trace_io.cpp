// The trace contract (hetero/trace.h): what TraceWriter writes, line by
// line, and what the streaming reader makes of it and of traces written by
// hand or by other tools.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "fixtures.h"
#include "hetero/regions.h"
#include "hetero/trace.h"
#include "profile.h"

namespace hetero {
namespace {

using profiler::test::TempDir;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Collect : TraceVisitor {
  std::vector<TraceRankInfo> ranks;
  std::vector<std::tuple<std::string, int, std::int64_t, std::int64_t, int, int>> events;
  void on_rank(const TraceRankInfo& r) override { ranks.push_back(r); }
  void on_event(const TraceEvent& e) override {
    events.emplace_back(std::string(e.name), e.pid, e.ts_ns, e.dur_ns, e.iter, e.microbatch);
  }
};

TEST(TraceWriter, WritesOneEventPerLineInTheArrayFormat) {
  TempDir dir;
  const std::string path = dir / "rank-00003.json";
  {
    TraceWriter w(path, {3, "llm", 1, 0, 0});
    w.region(regions::kLlmForward, 1795390593996383, 1876, 3, 1);
    w.region(regions::kGradReduce, 1795390594034845, 5749, 3, -1);
  }
  EXPECT_EQ(slurp(path),
            "[\n"
            "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":3,\"tid\":0,\"args\":{\"name\":\"rank 3 llm lane 1 stage 0\"}},\n"
            "{\"name\":\"hetero_rank\",\"ph\":\"M\",\"pid\":3,\"tid\":0,\"args\":{\"module\":\"llm\",\"replica\":1,"
            "\"stage\":0,\"tp_rank\":0}},\n"
            "{\"name\":\"llm/forward\",\"ph\":\"X\",\"ts\":1795390593996383,\"dur\":1876,\"pid\":3,\"tid\":0,"
            "\"args\":{\"iter\":3,\"microbatch\":1}},\n"
            "{\"name\":\"grad/reduce\",\"ph\":\"X\",\"ts\":1795390594034845,\"dur\":5749,\"pid\":3,\"tid\":0,"
            "\"args\":{\"iter\":3}},\n"
            "{\"name\":\"trace_end\",\"ph\":\"M\",\"pid\":3,\"tid\":0,\"args\":{}}\n"
            "]\n");
  // A closed file is one valid JSON document (what Perfetto loads).
  const auto doc = nlohmann::json::parse(slurp(path));
  ASSERT_TRUE(doc.is_array());
  EXPECT_EQ(doc.size(), 5u);
}

TEST(TraceWriter, BuffersEventsAndFlushesEveryN) {
  TempDir dir;
  const std::string path = dir / "rank-00000.json";
  TraceWriter w(path, {0, "encoder", 0, 0, 0}, /*flush_every=*/3);
  const auto lines = [&] {
    const std::string s = slurp(path);
    return std::count(s.begin(), s.end(), '\n');
  };
  EXPECT_EQ(lines(), 3);  // "[" and the two metadata events are on disk at once
  w.region(regions::kEncoderForward, 10, 1, 1, 0);
  w.region(regions::kEncoderForward, 11, 1, 1, 1);
  EXPECT_EQ(lines(), 3);
  w.region(regions::kEncoderForward, 12, 1, 1, 2);
  EXPECT_EQ(lines(), 6);
  w.region(regions::kEncoderBackward, 13, 1, 1, 0);
  w.flush();
  EXPECT_EQ(lines(), 7);
  w.close();
  w.close();  // idempotent
  w.region(regions::kEncoderBackward, 14, 1, 1, 1);  // ignored after close
  EXPECT_EQ(lines(), 9);
}

TEST(TraceReader, ReadsBackWhatTheWriterWroteExactly) {
  TempDir dir;
  const std::string path = dir / "rank-00007.json";
  {
    TraceWriter w(path, {7, "encoder", 2, 0, 1});
    w.region(regions::kEncoderForward, 1795390593996383, 1876, 12, 0);
    w.region(regions::kOptimStep, 1795390594034845, 0, 12, -1);
  }
  Collect c;
  const TraceReadStats stats = read_trace_file(path, c);
  EXPECT_TRUE(stats.closed);
  EXPECT_TRUE(stats.line_format);
  EXPECT_EQ(stats.events, 2);
  EXPECT_EQ(stats.bad_lines, 0);
  ASSERT_EQ(c.ranks.size(), 1u);
  EXPECT_EQ(c.ranks[0].rank, 7);
  EXPECT_EQ(c.ranks[0].module, "encoder");
  EXPECT_EQ(c.ranks[0].replica, 2);
  EXPECT_EQ(c.ranks[0].tp_rank, 1);
  ASSERT_EQ(c.events.size(), 2u);
  // Wall-clock µs since the epoch convert to ns without rounding.
  EXPECT_EQ(c.events[0], std::make_tuple(std::string("encoder/forward"), 7, std::int64_t{1795390593996383000},
                                         std::int64_t{1876000}, 12, 0));
  EXPECT_EQ(c.events[1], std::make_tuple(std::string("optim/step"), 7, std::int64_t{1795390594034845000},
                                         std::int64_t{0}, 12, -1));
}

TEST(TraceReader, HandWrittenLinesAnyKeyOrderFractionsEscapesAndATornEnd) {
  TempDir dir;
  const std::string path = dir / "rank-00001.json";
  std::ofstream(path) << "[\n"
                         "  {\"ph\":\"M\",\"name\":\"hetero_rank\",\"args\":{\"stage\":2,\"module\":\"llm\",\"tp_rank\":1,"
                         "\"replica\":4},\"pid\":1},\n"
                         "{\"args\":{\"microbatch\":3,\"iter\":9,\"note\":[1,{\"x\":null}]},\"dur\":2.25,"
                         "\"name\":\"llm\\/forward\",\"ph\":\"X\",\"pid\":1,\"tid\":0,\"ts\":1795390593000000.5},\n"
                         "{ \"name\" : \"pp/wait\" , \"ph\" : \"X\" , \"ts\" : 10 , \"dur\" : 1e3 , \"pid\" : 1 ,"
                         " \"args\" : { \"iter\" : 9 } } ,\n"
                         "{\"name\":\"llm/backward\",\"ph\":\"B\",\"ts\":5,\"pid\":1},\n"
                         "this is not json\n"
                         "{\"name\":\"llm/backward\",\"ph\":\"X\",\"ts\":20,\"dur\":";  // torn by a crash
  Collect c;
  const TraceReadStats stats = read_trace_file(path, c);
  EXPECT_FALSE(stats.closed);
  EXPECT_EQ(stats.bad_lines, 2);
  ASSERT_EQ(c.ranks.size(), 1u);
  EXPECT_EQ(c.ranks[0].stage, 2);
  EXPECT_EQ(c.ranks[0].replica, 4);
  EXPECT_EQ(c.ranks[0].tp_rank, 1);
  ASSERT_EQ(c.events.size(), 2u);
  EXPECT_EQ(c.events[0], std::make_tuple(std::string("llm/forward"), 1, std::int64_t{1795390593000000500},
                                         std::int64_t{2250}, 9, 3));
  EXPECT_EQ(c.events[1], std::make_tuple(std::string("pp/wait"), 1, std::int64_t{10000}, std::int64_t{1000000}, 9, -1));
}

TEST(TraceReader, OtherChromeJsonLayoutsAreStreamedToo) {
  TempDir dir;
  nlohmann::json events = nlohmann::json::array();
  events.push_back({{"name", "hetero_rank"}, {"ph", "M"}, {"pid", 4}, {"args", {{"module", "llm"}, {"stage", 1}}}});
  events.push_back({{"name", "llm/forward"}, {"ph", "X"}, {"ts", 100}, {"dur", 7}, {"pid", 4},
                    {"args", {{"iter", 2}, {"microbatch", 0}}}});
  events.push_back({{"name", "optim/step"}, {"ph", "X"}, {"ts", 200.5}, {"dur", 1}, {"pid", 4},
                    {"args", {{"iter", 2}}}});
  for (const bool object : {false, true}) {
    const std::string path = dir / (object ? "object.json" : "array.json");
    const nlohmann::json doc = object ? nlohmann::json{{"traceEvents", events}, {"displayTimeUnit", "ms"}} : events;
    std::ofstream(path) << doc.dump(2);
    Collect c;
    const TraceReadStats stats = read_trace_file(path, c);
    SCOPED_TRACE(path);
    EXPECT_FALSE(stats.line_format);
    EXPECT_TRUE(stats.closed);
    ASSERT_EQ(c.ranks.size(), 1u);
    EXPECT_EQ(c.ranks[0].stage, 1);
    ASSERT_EQ(c.events.size(), 2u);
    EXPECT_EQ(c.events[0], std::make_tuple(std::string("llm/forward"), 4, std::int64_t{100000}, std::int64_t{7000}, 2, 0));
    EXPECT_EQ(c.events[1], std::make_tuple(std::string("optim/step"), 4, std::int64_t{200500}, std::int64_t{1000}, 2, -1));
  }
}

TEST(TraceReader, ReadsOnlyAByteRange) {
  TempDir dir;
  const std::string path = dir / "rank-00000.json";
  {
    TraceWriter w(path, {0, "llm", 0, 0, 0});
    for (int iter = 1; iter <= 3; ++iter)
      for (int mb = 0; mb < 2; ++mb) w.region(regions::kLlmForward, iter * 100 + mb, 1, iter, mb);
  }
  struct Offsets : TraceVisitor {
    std::map<int, std::pair<std::uint64_t, std::uint64_t>> range;
    std::vector<int> iters;
    void on_event(const TraceEvent& e) override {
      auto [it, fresh] = range.try_emplace(e.iter, e.offset, e.end_offset);
      it->second.second = e.end_offset;
      iters.push_back(e.iter);
    }
  } all, two;
  read_trace_file(path, all);
  EXPECT_EQ(all.iters, (std::vector<int>{1, 1, 2, 2, 3, 3}));
  read_trace_file(path, two, all.range[2].first, all.range[2].second);
  EXPECT_EQ(two.iters, (std::vector<int>{2, 2}));
}

// A run whose traces are written by hand, independently of TraceWriter:
// one encoder rank and one LLM rank, two iterations.
TEST(HandWrittenRun, ReportHoldsThePlantedNumbers) {
  TempDir dir;
  std::filesystem::create_directories(dir / "trace");
  auto line = [](const char* name, long ts, long dur, int pid, int iter, int mb) {
    std::string args = "{\"iter\":" + std::to_string(iter) + (mb >= 0 ? ",\"microbatch\":" + std::to_string(mb) : "") + "}";
    return std::string("{\"name\":\"") + name + "\",\"ph\":\"X\",\"ts\":" + std::to_string(ts) + ",\"dur\":" +
           std::to_string(dur) + ",\"pid\":" + std::to_string(pid) + ",\"tid\":0,\"args\":" + args + "},\n";
  };
  std::ofstream enc(dir / "trace/rank-00000.json");
  std::ofstream llm(dir / "trace/rank-00001.json");
  enc << "[\n{\"name\":\"hetero_rank\",\"ph\":\"M\",\"pid\":0,\"args\":{\"module\":\"encoder\",\"replica\":0,\"stage\":0,\"tp_rank\":0}},\n";
  llm << "[\n{\"name\":\"hetero_rank\",\"ph\":\"M\",\"pid\":1,\"args\":{\"module\":\"llm\",\"replica\":0,\"stage\":0,\"tp_rank\":0}},\n";
  for (int iter = 1; iter <= 2; ++iter) {
    const long b = 1'000'000L * iter;
    // encoder: forward 100, bridge wait 300 (iter 1) / 500 (iter 2), backward 60, reduce 10, step 20
    const long bw = iter == 1 ? 300 : 500;
    enc << line("encoder/forward", b, 100, 0, iter, 0) << line("bridge/wait", b + 100, bw, 0, iter, 0)
        << line("encoder/backward", b + 100 + bw, 60, 0, iter, 0) << line("grad/reduce", b + 160 + bw, 10, 0, iter, -1)
        << line("optim/step", b + 170 + bw, 20, 0, iter, -1);
    // llm: stall 120, forward 200, backward 250, reduce 30, step 20
    llm << line("llm/encoder_stall", b, 120, 1, iter, 0) << line("llm/forward", b + 120, 200, 1, iter, 0)
        << line("llm/backward", b + 320, 250, 1, iter, 0) << line("grad/reduce", b + 570, 30, 1, iter, -1)
        << line("optim/step", b + 600, 20, 1, iter, -1);
  }
  enc << "]\n";
  enc.close();
  llm.close();  // no "]": crashed
  profiler::ProfileArgs a;
  a.run = dir.path();
  a.warmup = 0;
  const profiler::Report r = profiler::build_report(a);
  ASSERT_EQ(r.modules.size(), 2u);
  const auto& e = r.modules[0];
  const auto& l = r.modules[1];
  EXPECT_EQ(e.module, "encoder");
  using profiler::Category;
  auto at = [](const profiler::CategoryMs& v, Category c) { return v[static_cast<int>(c)]; };
  EXPECT_DOUBLE_EQ(e.iters[0].step_ms, 0.490);
  EXPECT_DOUBLE_EQ(e.iters[1].step_ms, 0.690);
  EXPECT_DOUBLE_EQ(e.summary.step_ms, 0.590);  // median of two
  EXPECT_DOUBLE_EQ(at(e.summary.mean_ms, Category::kBridgeWait), 0.400);
  EXPECT_DOUBLE_EQ(at(e.summary.mean_ms, Category::kCompute), 0.160);
  EXPECT_DOUBLE_EQ(at(e.summary.pct, Category::kBridgeWait), 100 * 0.400 / 0.590);
  EXPECT_DOUBLE_EQ(l.summary.step_ms, 0.620);
  EXPECT_DOUBLE_EQ(at(l.summary.mean_ms, Category::kEncoderStall), 0.120);
  EXPECT_DOUBLE_EQ(at(l.summary.mean_ms, Category::kCompute), 0.450);
  EXPECT_DOUBLE_EQ(at(l.summary.mean_ms, Category::kGradReduce), 0.030);
  EXPECT_DOUBLE_EQ(at(l.summary.mean_ms, Category::kOptimizer), 0.020);
  EXPECT_DOUBLE_EQ(r.job[1].step_ms, 0.690);
}

}  // namespace
}  // namespace hetero
