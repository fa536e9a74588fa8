// Exit statuses with a meaning across the trainer and its launch scripts.
#pragma once

namespace hetero {

// The trainer stopped early because it was asked to (SIGUSR1 before a Slurm
// time limit): the batch script requeues the job on seeing this status.
inline constexpr int kExitStopRequested = 75;

}  // namespace hetero
