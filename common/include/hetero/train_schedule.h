// The recipe's learning-rate and weight-decay schedule (TrainConfig) as an
// LrSchedule, and where in it a run stands. One place turns recipe lengths
// into schedule steps, so the trainer, the plan and the tests agree.
#pragma once

#include <cstdint>

#include "hetero/lr_schedule.h"
#include "hetero/recipe.h"

namespace hetero {

// Throws ConfigError naming every bad schedule value.
LrSchedule make_lr_schedule(const TrainConfig& train);

// The schedule position after `completed_steps` optimizer steps that were
// taken (skipped steps do not count): steps x GBS in samples, else steps.
std::int64_t schedule_position(const TrainConfig& train, std::int64_t completed_steps);

}  // namespace hetero
