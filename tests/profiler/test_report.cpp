// The report's numbers equal the planted ones: per module and iteration,
// medians after warm-up, percentages, stragglers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "analyze.h"
#include "fixtures.h"
#include "json_source.h"
#include "profile.h"

namespace hetero::profiler {
namespace {

using test::Planted;
using test::SynthRun;
using test::TempDir;
constexpr int M = Planted::kMicrobatches;
constexpr int kIters = 7;

double ms(double us) { return us / 1000.0; }

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// The planted step and categories of iteration `i`, in µs, by module.
double encoder_step(int i) {
  return M * (Planted::kData + Planted::kEncFwd + Planted::kSend + Planted::bridge_wait(i) + Planted::kEncBwd) +
         Planted::kEncGrad + Planted::kOptim + (i == 1 ? Planted::kWarmupExtra : 0);
}
double llm_step(int i) {
  const double stage0 = M * (Planted::kData + Planted::encoder_stall(i) + Planted::kLlmFwd + Planted::kSend +
                             Planted::pp_wait0(i) + Planted::kLlmBwd + Planted::kSend);
  const double straggler = M * (Planted::kData + Planted::pp_wait1(i) + Planted::kLlmFwd + Planted::kStraggle +
                                Planted::kLlmBwd + Planted::kSend);
  return std::max(stage0, straggler) + Planted::kLlmGrad + Planted::kOptim + (i == 1 ? Planted::kWarmupExtra : 0);
}

template <typename F>
double planted_median(F f, int first = 2, int last = kIters) {
  std::vector<double> v;
  for (int i = first; i <= last; ++i) v.push_back(f(i));
  return median_of(v);
}

const ModuleReport& module(const Report& r, const std::string& name) {
  for (const ModuleReport& m : r.modules)
    if (m.module == name) return m;
  throw std::runtime_error("no module " + name);
}

double cat(const CategoryMs& v, Category c) { return v[static_cast<int>(c)]; }

class PlantedRun : public ::testing::Test {
 protected:
  void SetUp() override { Planted::make(kIters).write_run(dir.path()); }
  Report report(int warmup = 1) {
    ProfileArgs a;
    a.run = dir.path();
    a.warmup = warmup;
    return build_report(a);
  }
  TempDir dir;
};

TEST_F(PlantedRun, EveryIterationHoldsThePlantedNumbers) {
  const Report r = report();
  ASSERT_EQ(r.modules.size(), 2u);
  const ModuleReport& enc = module(r, "encoder");
  const ModuleReport& llm = module(r, "llm");
  EXPECT_EQ(enc.ranks, 2);
  EXPECT_EQ(llm.ranks, 16);
  ASSERT_EQ(llm.iters.size(), static_cast<std::size_t>(kIters));
  for (int i = 1; i <= kIters; ++i) {
    const IterationRow& e = enc.iters[static_cast<std::size_t>(i - 1)];
    const IterationRow& l = llm.iters[static_cast<std::size_t>(i - 1)];
    SCOPED_TRACE("iteration " + std::to_string(i));
    EXPECT_EQ(e.iter, i);
    EXPECT_TRUE(e.complete);
    EXPECT_EQ(e.warmup, i == 1);
    EXPECT_DOUBLE_EQ(e.step_ms, ms(encoder_step(i)));
    EXPECT_DOUBLE_EQ(cat(e.mean_ms, Category::kCompute), ms(M * (Planted::kEncFwd + Planted::kEncBwd)));
    EXPECT_DOUBLE_EQ(cat(e.mean_ms, Category::kBridgeWait), ms(M * Planted::bridge_wait(i)));
    EXPECT_DOUBLE_EQ(cat(e.mean_ms, Category::kEncoderStall), 0.0);
    EXPECT_DOUBLE_EQ(cat(e.mean_ms, Category::kGradReduce), ms(Planted::kEncGrad));
    EXPECT_DOUBLE_EQ(cat(e.mean_ms, Category::kOptimizer), ms(Planted::kOptim));
    EXPECT_DOUBLE_EQ(cat(e.mean_ms, Category::kDataWait), ms(M * Planted::kData + (i == 1 ? Planted::kWarmupExtra : 0)));
    EXPECT_DOUBLE_EQ(cat(e.mean_ms, Category::kOther), ms(M * Planted::kSend));

    EXPECT_DOUBLE_EQ(l.step_ms, ms(llm_step(i)));
    // 16 ranks of 500 µs per microbatch, one of them 100 µs slower.
    EXPECT_DOUBLE_EQ(cat(l.mean_ms, Category::kCompute),
                     ms(M * (Planted::kLlmFwd + Planted::kLlmBwd) + M * Planted::kStraggle / 16.0));
    EXPECT_DOUBLE_EQ(cat(l.max_ms, Category::kCompute),
                     ms(M * (Planted::kLlmFwd + Planted::kLlmBwd + Planted::kStraggle)));
    // The stall is on the 8 first-stage ranks; its mean is over them.
    EXPECT_DOUBLE_EQ(cat(l.mean_ms, Category::kEncoderStall), ms(M * Planted::encoder_stall(i)));
    EXPECT_DOUBLE_EQ(cat(l.max_ms, Category::kEncoderStall), ms(M * Planted::encoder_stall(i)));
    EXPECT_DOUBLE_EQ(cat(l.mean_ms, Category::kPipelineWait),
                     ms(M * (Planted::pp_wait0(i) + Planted::pp_wait1(i)) / 2.0));
    EXPECT_DOUBLE_EQ(cat(l.max_ms, Category::kPipelineWait),
                     ms(M * std::max(Planted::pp_wait0(i), Planted::pp_wait1(i))));
    EXPECT_DOUBLE_EQ(cat(l.mean_ms, Category::kBridgeWait), 0.0);
    EXPECT_DOUBLE_EQ(cat(l.mean_ms, Category::kGradReduce), ms(Planted::kLlmGrad));
    EXPECT_DOUBLE_EQ(cat(l.mean_ms, Category::kOptimizer), ms(Planted::kOptim));
    EXPECT_DOUBLE_EQ(cat(l.mean_ms, Category::kOther), ms(M * (2 * Planted::kSend + Planted::kSend) / 2.0));
    EXPECT_DOUBLE_EQ(r.job[static_cast<std::size_t>(i - 1)].step_ms, ms(std::max(encoder_step(i), llm_step(i))));
  }
}

TEST_F(PlantedRun, MediansAfterWarmupAndPercentOfStep) {
  const Report r = report();
  const ModuleReport& enc = module(r, "encoder");
  const ModuleReport& llm = module(r, "llm");
  EXPECT_EQ(llm.summary.iterations, kIters - 1);
  const double llm_step_med = ms(planted_median(llm_step));
  EXPECT_DOUBLE_EQ(llm.summary.step_ms, llm_step_med);
  const double stall = ms(planted_median([](int i) { return double(M * Planted::encoder_stall(i)); }));
  EXPECT_DOUBLE_EQ(cat(llm.summary.mean_ms, Category::kEncoderStall), stall);
  EXPECT_DOUBLE_EQ(cat(llm.summary.pct, Category::kEncoderStall), 100.0 * stall / llm_step_med);
  const double pp = ms(planted_median([](int i) { return M * (Planted::pp_wait0(i) + Planted::pp_wait1(i)) / 2.0; }));
  EXPECT_DOUBLE_EQ(cat(llm.summary.mean_ms, Category::kPipelineWait), pp);
  // Warm-up's 5 ms data wait is out of the median.
  EXPECT_DOUBLE_EQ(cat(llm.summary.mean_ms, Category::kDataWait), ms(M * Planted::kData));
  const double enc_step_med = ms(planted_median(encoder_step));
  EXPECT_DOUBLE_EQ(enc.summary.step_ms, enc_step_med);
  const double bw = ms(planted_median([](int i) { return double(M * Planted::bridge_wait(i)); }));
  EXPECT_DOUBLE_EQ(cat(enc.summary.mean_ms, Category::kBridgeWait), bw);
  EXPECT_DOUBLE_EQ(cat(enc.summary.pct, Category::kBridgeWait), 100.0 * bw / enc_step_med);
  EXPECT_DOUBLE_EQ(r.job_step_ms, ms(planted_median([](int i) { return std::max(encoder_step(i), llm_step(i)); })));

  // --warmup 0 takes iteration 1 in.
  const Report all = report(0);
  EXPECT_EQ(module(all, "llm").summary.iterations, kIters);
  EXPECT_DOUBLE_EQ(module(all, "llm").summary.step_ms, ms(planted_median(llm_step, 1)));
}

TEST_F(PlantedRun, TheStragglerStandsOutFromItsStage) {
  const Report r = report();
  ASSERT_EQ(r.stragglers.size(), 1u);  // everyone else equals or trails their peers
  const Straggler& s = r.stragglers[0];
  EXPECT_EQ(s.role.rank, Planted::kStragglerRank);
  EXPECT_EQ(s.role.module, "llm");
  EXPECT_EQ(s.role.replica, 7);
  EXPECT_EQ(s.role.stage, 1);
  EXPECT_EQ(s.peers, 8);
  const double slow = ms(M * (Planted::kLlmFwd + Planted::kLlmBwd + Planted::kStraggle));
  const double normal = ms(M * (Planted::kLlmFwd + Planted::kLlmBwd));
  EXPECT_DOUBLE_EQ(s.compute_ms, slow);
  EXPECT_DOUBLE_EQ(s.peer_median_ms, normal);
  EXPECT_NEAR(s.peer_mean_ms, (7 * normal + slow) / 8, 1e-12);
  // One rank d above seven equal peers: z = sqrt(7) whatever d is.
  EXPECT_NEAR(s.z, std::sqrt(7.0), 1e-9);
  EXPECT_TRUE(s.flagged);
}

TEST_F(PlantedRun, AnIncompleteLastIterationIsLeftOutOfTheMedians) {
  // A crash: rank 5 never wrote iteration 7, and every file lacks its end.
  SynthRun run = Planted::make(kIters);
  run.events.erase(std::remove_if(run.events.begin(), run.events.end(),
                                  [](const test::SynthEvent& e) { return e.rank == 5 && e.iter == kIters; }),
                   run.events.end());
  TempDir crashed;
  run.write_run(crashed.path(), /*close_files=*/false);
  ProfileArgs a;
  a.run = crashed.path();
  const Report r = build_report(a);
  const ModuleReport& llm = module(r, "llm");
  EXPECT_FALSE(llm.iters.back().complete);
  EXPECT_EQ(llm.iters.back().ranks, 15);
  EXPECT_EQ(llm.summary.iterations, kIters - 2);
  EXPECT_DOUBLE_EQ(llm.summary.step_ms, ms(planted_median(llm_step, 2, kIters - 1)));
  // The encoder's iteration 7 is complete but the job's is not.
  EXPECT_EQ(module(r, "encoder").summary.iterations, kIters - 1);
  std::string notes;
  for (const auto& n : r.notes) notes += n + "\n";
  EXPECT_NE(notes.find("not closed"), std::string::npos) << notes;
  EXPECT_NE(notes.find("18 trace lines were not one event"), std::string::npos) << notes;
  EXPECT_NE(notes.find("llm: iteration(s) 7 lack events"), std::string::npos) << notes;
}

TEST_F(PlantedRun, TheCriticalPathIterationIsTheMedianOne) {
  const Report r = report();
  ASSERT_TRUE(r.critical_path);
  std::vector<std::pair<double, int>> steps;
  for (int i = 2; i <= kIters; ++i) steps.emplace_back(std::max(encoder_step(i), llm_step(i)), i);
  std::sort(steps.begin(), steps.end());
  EXPECT_EQ(r.critical_path->iter, steps[(steps.size() - 1) / 2].second);
  EXPECT_DOUBLE_EQ(r.critical_path->iteration_ms, ms(steps[(steps.size() - 1) / 2].first));
}

}  // namespace
}  // namespace hetero::profiler
