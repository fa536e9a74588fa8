// LR and weight-decay schedules at every boundary. The expected values are
// worked out by hand from the published formulas (Megatron-LM's
// OptimizerParamScheduler): max 1.0, min 0.1, 10 warm-up steps, decay ends
// at step 110, WSD anneals over its last 20 steps.
#include <gtest/gtest.h>

#include <cmath>

#include "hetero/lr_schedule.h"

namespace hetero {
namespace {

LrSchedule make(const std::string& style, const std::string& wsd_style = "linear") {
  LrScheduleConfig c;
  c.max_lr = 1.0;
  c.min_lr = 0.1;
  c.warmup_steps = 10;
  c.decay_steps = 110;
  c.decay_style = style;
  c.wsd_decay_style = wsd_style;
  c.wsd_decay_steps = 20;
  return LrSchedule(c);
}

constexpr double kEps = 1e-12;

TEST(LrSchedule, WarmupIsLinearFromInitLr) {
  for (const char* style : {"constant", "linear", "cosine", "inverse-square-root", "WSD"}) {
    const LrSchedule s = make(style);
    EXPECT_NEAR(s.lr(0), 0.0, kEps) << style;
    EXPECT_NEAR(s.lr(5), 0.5, kEps) << style;
    EXPECT_NEAR(s.lr(10), 1.0, kEps) << style;  // end of warm-up
  }
  LrScheduleConfig c;
  c.max_lr = 1.0;
  c.init_lr = 0.2;
  c.warmup_steps = 4;
  EXPECT_NEAR(LrSchedule(c).lr(1), 0.2 + 0.8 / 4, kEps);
}

TEST(LrSchedule, ConstantStaysAtMax) {
  EXPECT_NEAR(make("constant").lr(11), 1.0, kEps);
  EXPECT_NEAR(make("constant").lr(100000), 1.0, kEps);
}

TEST(LrSchedule, LinearAndCosine) {
  EXPECT_NEAR(make("linear").lr(60), 0.55, kEps);         // halfway
  EXPECT_NEAR(make("linear").lr(110), 0.1, kEps);         // end of decay
  EXPECT_NEAR(make("linear").lr(111), 0.1, kEps);         // past the end
  EXPECT_NEAR(make("cosine").lr(60), 0.55, kEps);         // cos(pi/2) = 0
  EXPECT_NEAR(make("cosine").lr(35), 0.1 + 0.45 * (1 + std::sqrt(0.5)), kEps);  // a quarter: cos(pi/4)
  EXPECT_NEAR(make("cosine").lr(110), 0.1, kEps);
  EXPECT_NEAR(make("cosine").lr(5000), 0.1, kEps);
}

TEST(LrSchedule, InverseSquareRoot) {
  EXPECT_NEAR(make("inverse-square-root").lr(40), 0.5, kEps);  // sqrt(10/40)
  EXPECT_NEAR(make("inverse-square-root").lr(90), 1.0 / 3.0, kEps);  // sqrt(10/90)
  EXPECT_NEAR(make("inverse-square-root").lr(111), 0.1, kEps);  // past the end: min_lr
}

TEST(LrSchedule, WsdIsStableThenAnneals) {
  for (const char* wsd : {"linear", "cosine", "exponential", "minus_sqrt"}) {
    const LrSchedule s = make("WSD", wsd);
    EXPECT_NEAR(s.lr(11), 1.0, kEps) << wsd;   // stable phase starts
    EXPECT_NEAR(s.lr(90), 1.0, kEps) << wsd;   // last stable step: decay starts after it
    EXPECT_NEAR(s.lr(110), 0.1, kEps) << wsd;  // end of decay
    EXPECT_NEAR(s.lr(200), 0.1, kEps) << wsd;  // past the end
  }
  // Halfway through the anneal (step 100, ratio 0.5):
  EXPECT_NEAR(make("WSD", "linear").lr(100), 0.55, kEps);
  EXPECT_NEAR(make("WSD", "cosine").lr(100), 0.55, kEps);
  EXPECT_NEAR(make("WSD", "exponential").lr(100), 0.1 + 0.9 * (std::sqrt(2.0) - 1.0), kEps);  // 2*0.5^0.5-1
  EXPECT_NEAR(make("WSD", "minus_sqrt").lr(100), 0.1 + 0.9 * (1.0 - std::sqrt(0.5)), kEps);
}

TEST(WeightDecaySchedule, IncrementStyles) {
  LrScheduleConfig c;
  c.start_wd = 0.0;
  c.end_wd = 0.1;
  c.wd_incr_steps = 100;
  c.wd_incr_style = "linear";
  EXPECT_NEAR(LrSchedule(c).weight_decay(0), 0.0, kEps);
  EXPECT_NEAR(LrSchedule(c).weight_decay(50), 0.05, kEps);
  EXPECT_NEAR(LrSchedule(c).weight_decay(100), 0.1, kEps);
  EXPECT_NEAR(LrSchedule(c).weight_decay(101), 0.1, kEps);
  c.wd_incr_style = "cosine";
  EXPECT_NEAR(LrSchedule(c).weight_decay(50), 0.05, kEps);
  EXPECT_NEAR(LrSchedule(c).weight_decay(25), 0.1 * 0.5 * (1 - std::sqrt(0.5)), kEps);  // cos(3pi/4)
  c.wd_incr_style = "constant";
  c.start_wd = c.end_wd = 0.02;
  EXPECT_NEAR(LrSchedule(c).weight_decay(7), 0.02, kEps);
}

TEST(LrSchedule, BadConfigsNameTheValues) {
  LrScheduleConfig c;
  c.max_lr = 1.0;
  c.decay_style = "wsd";  // case matters, as in Megatron
  EXPECT_THROW(LrSchedule{c}, ConfigError);
  c.decay_style = "WSD";
  c.warmup_steps = 10;
  c.decay_steps = 110;
  c.wsd_decay_steps = 200;  // longer than the decay phase
  try {
    LrSchedule s(c);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("lr_wsd_decay (200)"), std::string::npos) << e.what();
  }
  LrScheduleConfig wd;
  wd.start_wd = 0.0;
  wd.end_wd = 0.1;  // constant style needs them equal
  EXPECT_THROW(LrSchedule{wd}, ConfigError);
}

}  // namespace
}  // namespace hetero
