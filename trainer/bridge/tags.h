// Tags of the bridge's point-to-point messages (design §5), one per
// microbatch and kind, over the job's world group. The pipeline's own tags
// (schedules.cpp) travel between LLM stages only, never on a bridge pair.
#pragma once

namespace hetero::bridge_tags {

enum Kind { kMetadata = 0, kEmbeddings = 1, kGradients = 2, kKinds = 3 };

inline int tag(int microbatch, Kind kind) { return microbatch * kKinds + kind; }

}  // namespace hetero::bridge_tags
