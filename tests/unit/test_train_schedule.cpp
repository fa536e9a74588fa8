// The recipe's schedule keys reach the LR schedule in the right unit:
// iterations for runs given in iterations, samples (consumed samples, as
// Megatron-LM counts) for runs given in samples. Expected values are worked
// out here from the schedule formulas, not read from the program.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "hetero/errors.h"
#include "hetero/recipe.h"
#include "hetero/train_schedule.h"

namespace hetero {
namespace {

const std::string kRecipe = std::string(HETERO_SOURCE_DIR) + "/recipes/nemotron_20l";

double lr_at(const TrainConfig& t, std::int64_t steps) { return make_lr_schedule(t).lr(schedule_position(t, steps)); }

TEST(TrainSchedule, WsdInIterations) {
  // tiny: lr 3e-3, min 3e-4, 20 iterations.
  const TrainConfig t = load_recipe(kRecipe, "tiny",
                                    {"train.lr_decay_style=WSD", "train.lr_wsd_decay_iters=5",
                                     "train.lr_warmup_iters=2", "train.lr_warmup_init=1.0e-4"})
                            .train;
  const double max = 3e-3, min = 3e-4, init = 1e-4;
  EXPECT_EQ(schedule_position(t, 7), 7);
  EXPECT_DOUBLE_EQ(lr_at(t, 0), init);
  EXPECT_DOUBLE_EQ(lr_at(t, 1), init + (max - init) / 2);
  EXPECT_DOUBLE_EQ(lr_at(t, 2), max);   // end of warm-up
  EXPECT_DOUBLE_EQ(lr_at(t, 15), max);  // stable until 20 - 5
  EXPECT_NEAR(lr_at(t, 17), min + (max - min) * (1 - 2.0 / 5), 1e-15);  // linear anneal
  EXPECT_NEAR(lr_at(t, 20), min, 1e-15);
  EXPECT_DOUBLE_EQ(lr_at(t, 25), min);  // past the end
}

TEST(TrainSchedule, SamplesCountConsumedSamples) {
  // 9n: GBS 768, train_samples 122070313, warm-up 1024000 samples, cosine, lr 1e-4 -> 1e-5.
  const TrainConfig t = load_recipe(kRecipe, "9n", {}).train;
  const double max = 1e-4, min = 1e-5;
  EXPECT_EQ(schedule_position(t, 3), 3 * 768);
  EXPECT_DOUBLE_EQ(lr_at(t, 1), max * 768.0 / 1024000.0);
  // 1333 steps are 1023744 samples, still warming up; 1334 steps are past it.
  EXPECT_DOUBLE_EQ(lr_at(t, 1333), max * 1023744.0 / 1024000.0);
  const double ratio = (1334.0 * 768 - 1024000) / (122070313.0 - 1024000);
  EXPECT_NEAR(lr_at(t, 1334), min + (max - min) * 0.5 * (std::cos(M_PI * ratio) + 1), 1e-18);
  EXPECT_EQ(t.train_iters, 158946);  // ceil(122070313 / 768)
  EXPECT_DOUBLE_EQ(lr_at(t, t.train_iters), min);  // the last iteration consumes past the end
}

TEST(TrainSchedule, LengthsInTheOtherUnitAreConverted) {
  // An iteration-counted run with a decay length in samples: ceil(100 / 8) = 13 iterations.
  const TrainConfig t =
      load_recipe(kRecipe, "tiny", {"train.lr_decay_style=linear", "train.lr_decay_samples=100"}).train;
  EXPECT_NEAR(lr_at(t, 13), 3e-4, 1e-15);
  EXPECT_GT(lr_at(t, 12), 3e-4);
  // A sample-counted run with a WSD anneal in iterations: 10 iterations = 7680 samples.
  const TrainConfig s = load_recipe(kRecipe, "9n",
                                    {"train.lr_decay_style=WSD", "train.lr_wsd_decay_iters=10",
                                     "train.lr_warmup_samples=0"})
                            .train;
  const std::int64_t anneal_start = (122070313 - 7680 + 767) / 768;  // first step at or past the start
  EXPECT_DOUBLE_EQ(lr_at(s, anneal_start - 1), 1e-4);
  EXPECT_LT(lr_at(s, anneal_start + 1), 1e-4);
}

TEST(TrainSchedule, WeightDecayIncrementsOverTheRun) {
  const TrainConfig t = load_recipe(kRecipe, "tiny",
                                    {"train.start_weight_decay=0.0", "train.end_weight_decay=0.1",
                                     "train.weight_decay_incr_style=linear"})
                            .train;
  const LrSchedule s = make_lr_schedule(t);
  EXPECT_DOUBLE_EQ(s.weight_decay(0), 0.0);
  EXPECT_NEAR(s.weight_decay(10), 0.05, 1e-15);
  EXPECT_NEAR(s.weight_decay(20), 0.1, 1e-15);
}

TEST(TrainSchedule, BadScheduleValuesFailAtLoadNamingTheKey) {
  try {
    load_recipe(kRecipe, "tiny", {"train.lr_decay_style=cosine_annealing"});
    FAIL() << "accepted an unknown decay style";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("train.lr_decay_style 'cosine_annealing' is not one of"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(load_recipe(kRecipe, "tiny", {"train.lr_decay_style=WSD"}), ConfigError);  // no anneal length
}

}  // namespace
}  // namespace hetero
