// The end of a run that no longer trains: one non-finite gradient skips its
// step (train_loop), but train.max_skipped_in_a_row skipped steps in a row
// end the job, naming the iteration and the first non-finite gradient.
#pragma once

#include <string>
#include <vector>

#include "dist/comm.h"
#include "model/params.h"

namespace hetero {

// The first parameter whose gradient holds a NaN or infinity: on the lowest
// rank that has one, in that rank's encoder-then-LLM parameter order. A
// collective over `world`: every rank calls it and gets the same answer
// (rank -1: none found).
struct NonfiniteGradient {
  int rank = -1;
  std::string name;
};
NonfiniteGradient first_nonfinite_gradient(const std::vector<Param>& encoder_params,
                                           const std::vector<Param>& llm_params, const Group& world);

class SkippedStepGuard {
 public:
  explicit SkippedStepGuard(int max_in_a_row) : max_in_a_row_(max_in_a_row) {}
  // After each step (on every rank: the skip decision is global). Throws
  // std::runtime_error once `max_in_a_row` steps in a row were skipped;
  // `find` (a collective) is called only then.
  template <typename Find>
  void after_step(bool skipped, int iter, Find&& find) {
    in_a_row_ = skipped ? in_a_row_ + 1 : 0;
    if (in_a_row_ >= max_in_a_row_) fail(iter, find());
  }

 private:
  [[noreturn]] void fail(int iter, const NonfiniteGradient& first) const;
  int max_in_a_row_;
  int in_a_row_ = 0;
};

}  // namespace hetero
