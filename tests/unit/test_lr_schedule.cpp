// The learning-rate schedule at its boundaries; expected values are written
// out from the formulas, not taken from the implementation.
#include <gtest/gtest.h>

#include <cmath>

#include "hetero/lr_schedule.h"

namespace hetero {
namespace {

TEST(LrSchedule, LinearWarmupFromZero) {
  const LrSchedule s{1.0, 0.1, 4, 20, "cosine"};
  EXPECT_DOUBLE_EQ(s.at(1), 0.25);
  EXPECT_DOUBLE_EQ(s.at(2), 0.5);
  EXPECT_DOUBLE_EQ(s.at(4), 1.0);
}

TEST(LrSchedule, CosineDecaysToMinAndStays) {
  const LrSchedule s{1.0, 0.1, 4, 20, "cosine"};
  EXPECT_DOUBLE_EQ(s.at(12), 0.1 + 0.9 * 0.5);  // halfway: cos(pi/2) = 0
  EXPECT_DOUBLE_EQ(s.at(20), 0.1);
  EXPECT_DOUBLE_EQ(s.at(50), 0.1);
  EXPECT_NEAR(s.at(8), 0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI / 4)), 1e-15);
}

TEST(LrSchedule, LinearAndConstant) {
  const LrSchedule lin{2.0, 0.0, 0, 10, "linear"};
  EXPECT_DOUBLE_EQ(lin.at(0), 2.0);
  EXPECT_DOUBLE_EQ(lin.at(5), 1.0);
  EXPECT_DOUBLE_EQ(lin.at(10), 0.0);
  const LrSchedule constant{3e-4, 0.0, 2, 10, "constant"};
  EXPECT_DOUBLE_EQ(constant.at(1), 1.5e-4);
  EXPECT_DOUBLE_EQ(constant.at(9), 3e-4);
}

TEST(LrSchedule, UnknownStyleThrows) {
  const LrSchedule s{1.0, 0.0, 0, 10, "wsd-typo"};
  EXPECT_THROW(s.at(5), std::invalid_argument);
}

}  // namespace
}  // namespace hetero
