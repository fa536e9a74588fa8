// The critical path of one iteration: the chain of work that set its
// length, from the encoder through the LLM's pipeline stages to the
// optimizer step.
#pragma once

#include <map>
#include <vector>

#include "report.h"
#include "run_config.h"
#include "source.h"

namespace hetero::profiler {

// Walks back from the iteration's last event end:
//  - own work (compute, data wait, sends) is on the path in full;
//  - a wait (llm/encoder_stall, bridge/wait, pp/wait) hands the path to the
//    rank whose event ended it: its producer (encoder forward/bridge send of
//    the same microbatch for a stall, the lane's first-stage backward/bridge
//    send for a bridge wait, the neighbouring stage's forward/backward/pp send
//    for a pipeline wait); the part of the wait after the producer finished
//    stays on the path as "transfer";
//  - a collective (grad/reduce over the rank's data-parallel peers,
//    optim/step over all ranks) hands the path to the peer that entered it
//    last; the part after that is "collective";
//  - time between two events of a rank is "gap".
// `roles` maps rank -> role; `config` (may be null) narrows producers to the
// encoder replicas that feed a lane.
CriticalPath critical_path(int iter, const std::vector<Event>& events, const std::map<int, RankRole>& roles,
                           const RunConfig* config);

}  // namespace hetero::profiler
