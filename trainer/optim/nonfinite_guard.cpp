#include "optim/nonfinite_guard.h"

#include <stdexcept>

namespace hetero {
namespace {

constexpr int kNameBytes = 256;

}  // namespace

NonfiniteGradient first_nonfinite_gradient(const std::vector<Param>& encoder_params,
                                           const std::vector<Param>& llm_params, const Group& world) {
  std::string mine;
  for (const auto* list : {&encoder_params, &llm_params}) {
    for (const Param& p : *list) {
      const at::Tensor& g = p.value.grad();
      if (g.defined() && !at::isfinite(g).all().item<bool>()) {
        mine = p.name;
        break;
      }
    }
    if (!mine.empty()) break;
  }
  // The lowest rank with a finding, then its name as bytes (every other
  // rank adds zeros): a string through a sum, on Gloo and NCCL alike.
  at::Tensor owner = at::tensor({static_cast<double>(mine.empty() ? world.size() : world.rank)}, at::kDouble)
                         .to(world.device);
  at::Tensor neg = -owner;
  all_reduce_max(world, neg);
  const int first = static_cast<int>(-neg.cpu().item<double>());
  if (first >= world.size()) return {};
  at::Tensor bytes = at::zeros({kNameBytes}, at::kDouble);
  if (first == world.rank)
    for (int i = 0; i < static_cast<int>(mine.size()) && i < kNameBytes; ++i)
      bytes[i] = static_cast<double>(static_cast<unsigned char>(mine[i]));
  bytes = bytes.to(world.device);
  all_reduce_sum(world, bytes);
  bytes = bytes.cpu();
  NonfiniteGradient out;
  out.rank = world.ranks[first];
  for (int i = 0; i < kNameBytes; ++i) {
    const int c = static_cast<int>(bytes[i].item<double>());
    if (c == 0) break;
    out.name += static_cast<char>(c);
  }
  return out;
}

void SkippedStepGuard::fail(int iter, const NonfiniteGradient& first) const {
  const std::string which = first.rank >= 0
                                ? "the first non-finite gradient is " + first.name + " on rank " + std::to_string(first.rank)
                                : "no rank holds a non-finite gradient now (the norm itself overflowed)";
  throw std::runtime_error("iteration " + std::to_string(iter) + ": " + std::to_string(max_in_a_row_) +
                           " optimizer step(s) in a row skipped because the gradient norm is not finite (" + which +
                           "); the run no longer trains, so it stops (train.max_skipped_in_a_row=" +
                           std::to_string(max_in_a_row_) + "). Check the data and the learning rate, or resume from "
                           "an earlier checkpoint");
}

}  // namespace hetero
