// Region names (design §8): the same strings are NVTX ranges and trace
// events, so the profiler finds what the trainer marks.
#pragma once

namespace hetero::regions {
inline constexpr const char* kDataWait = "data/wait";
inline constexpr const char* kEncoderForward = "encoder/forward";
inline constexpr const char* kEncoderBackward = "encoder/backward";
inline constexpr const char* kBridgeSend = "bridge/send";
inline constexpr const char* kBridgeWait = "bridge/wait";
inline constexpr const char* kLlmEncoderStall = "llm/encoder_stall";
inline constexpr const char* kLlmForward = "llm/forward";
inline constexpr const char* kLlmBackward = "llm/backward";
inline constexpr const char* kPpSend = "pp/send";
inline constexpr const char* kPpWait = "pp/wait";
inline constexpr const char* kGradReduce = "grad/reduce";
inline constexpr const char* kOptimStep = "optim/step";
inline constexpr const char* kCkptSave = "ckpt/save";
inline constexpr const char* kCkptLoad = "ckpt/load";
}  // namespace hetero::regions
