#include "stop_signal.h"

#include <csignal>

namespace hetero {
namespace {
// A signal handler can only reach process-wide state.
volatile std::sig_atomic_t g_stop = 0;
void on_stop_signal(int) { g_stop = 1; }
}  // namespace

void install_stop_signal_handler() { std::signal(SIGUSR1, on_stop_signal); }
bool stop_requested() { return g_stop != 0; }

}  // namespace hetero
