// Exit statuses with a meaning across the trainer and its launch scripts.
#pragma once

namespace hetero {

// The trainer stopped early because it was asked to (SIGUSR1 before a Slurm
// time limit): the batch script requeues the job on seeing this status.
inline constexpr int kExitStopRequested = 75;

// A rank's heartbeat went stale (heartbeat.h): the watcher that noticed ends
// the job with this status after printing (and writing
// RUN/hang-report.txt) which rank hung, where and since when.
inline constexpr int kExitRankHung = 3;

}  // namespace hetero
