// One microbatch of text as the LLM consumes it.
#pragma once

#include <vector>

#include <ATen/ATen.h>

namespace hetero {

struct TextBatch {
  at::Tensor tokens;     // [B, S] input ids, image placeholders included
  at::Tensor labels;     // [B, S]
  at::Tensor loss_mask;  // [B, S] float, 1 where the label counts
  // Per row, where each document or packed sub-sample starts (0 first).
  std::vector<std::vector<int>> starts;
};

}  // namespace hetero
