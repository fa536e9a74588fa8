// Indexing of the MoE dispatch and combine (model/moe_routing.h), shared by
// the CUDA kernels (moe_routing.cu) and the CPU loops. A slot is a (token t,
// choice k) pair, numbered t * K + k; `order` lists the slots sorted by
// expert (row j of the expert-sorted rows is slot order[j]) and `inverse`
// is its inverse permutation (slot s is row inverse[s]).
#pragma once

#include <stdint.h>

#include "kernels/host_device.h"

namespace hetero {

struct MoeRoutingShape {
  int64_t tokens, k, hidden;
  HETERO_HOST_DEVICE int64_t slots() const { return tokens * k; }
};

// The token whose copy row j of the expert-sorted rows is.
HETERO_HOST_DEVICE int64_t moe_token_of_row(const int64_t* order, int64_t row, int64_t k) { return order[row] / k; }

// The expert-sorted row of token t's k-th choice.
HETERO_HOST_DEVICE int64_t moe_row_of_slot(const int64_t* inverse, int64_t t, int64_t choice, int64_t k) {
  return inverse[t * k + choice];
}

}  // namespace hetero
