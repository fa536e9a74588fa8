// A stop request from outside (SIGUSR1, sent by Slurm before the time limit).
// Ranks see the signal at different moments, so the loop agrees on it with
// one all-reduce per iteration and every rank stops after the same one.
#pragma once

namespace hetero {

void install_stop_signal_handler();
bool stop_requested();

}  // namespace hetero
