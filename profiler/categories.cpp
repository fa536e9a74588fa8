#include "categories.h"

#include "hetero/regions.h"

namespace hetero::profiler {
namespace {
namespace R = hetero::regions;
constexpr std::array<const char*, kNumRegions> kNames = {
    R::kDataWait,   R::kEncoderForward, R::kEncoderBackward, R::kBridgeSend, R::kBridgeWait,
    R::kLlmEncoderStall, R::kLlmForward, R::kLlmBackward,    R::kPpSend,     R::kPpWait,
    R::kGradReduce, R::kOptimStep,      R::kCkptSave,        R::kCkptLoad};
}  // namespace

const char* region_name(int region) { return region >= 0 && region < kNumRegions ? kNames[region] : "?"; }

int region_index(std::string_view name) {
  for (int i = 0; i < kNumRegions; ++i)
    if (name == kNames[i]) return i;
  return -1;
}

Category category_of(int region) {
  switch (region) {
    case kEncoderForward:
    case kEncoderBackward:
    case kLlmForward:
    case kLlmBackward: return Category::kCompute;
    case kLlmEncoderStall: return Category::kEncoderStall;
    case kBridgeWait: return Category::kBridgeWait;
    case kPpWait: return Category::kPipelineWait;
    case kGradReduce: return Category::kGradReduce;
    case kOptimStep: return Category::kOptimizer;
    case kDataWait: return Category::kDataWait;
    default: return Category::kOther;
  }
}

const char* category_key(Category c) {
  static const char* keys[kNumCategories] = {"compute",        "encoder_stall", "bridge_wait", "pipeline_wait",
                                             "grad_reduce",    "optimizer",     "data_wait",   "other"};
  return keys[static_cast<int>(c)];
}

const char* category_label(Category c) {
  static const char* labels[kNumCategories] = {"compute",          "encoder stall", "bridge wait", "pipeline wait",
                                               "grad reduction",   "optimizer",     "data wait",   "other (sends, ckpt)"};
  return labels[static_cast<int>(c)];
}

bool is_wait_region(int region) { return region == kLlmEncoderStall || region == kBridgeWait || region == kPpWait; }

}  // namespace hetero::profiler
