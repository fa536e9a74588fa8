// What each design §8 region counts as in the report: the one mapping from
// region names (hetero/regions.h) to report categories.
#pragma once

#include <array>
#include <string_view>

namespace hetero::profiler {

// Regions in hetero/regions.h order; an event's region is an index into it.
inline constexpr int kNumRegions = 14;
enum Region : int {
  kDataWait, kEncoderForward, kEncoderBackward, kBridgeSend, kBridgeWait, kLlmEncoderStall, kLlmForward,
  kLlmBackward, kPpSend, kPpWait, kGradReduce, kOptimStep, kCkptSave, kCkptLoad
};
// The region's name (hetero/regions.h).
const char* region_name(int region);
// The index of a region name; -1 if it is not a design §8 region.
int region_index(std::string_view name);

// Report categories, in report order.
enum class Category : int {
  kCompute,       // encoder/forward + encoder/backward + llm/forward + llm/backward
  kEncoderStall,  // llm/encoder_stall
  kBridgeWait,    // bridge/wait
  kPipelineWait,  // pp/wait
  kGradReduce,    // grad/reduce
  kOptimizer,     // optim/step
  kDataWait,      // data/wait
  kOther,         // bridge/send, pp/send, ckpt/save, ckpt/load
};
inline constexpr int kNumCategories = 8;
Category category_of(int region);
// snake_case key for JSON ("encoder_stall") and a label for text ("encoder stall").
const char* category_key(Category c);
const char* category_label(Category c);
inline Category category_at(int i) { return static_cast<Category>(i); }

// Regions a rank waits in for another rank: never its own work.
bool is_wait_region(int region);

}  // namespace hetero::profiler
