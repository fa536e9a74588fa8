// The grid of a grid-stride kernel, sized from the device it runs on.
#pragma once

#include <cstdint>

namespace hetero {

// Blocks for `items` work items at `per_block` each: enough to cover them,
// but at most `blocks_per_sm` per multiprocessor of the current device
// (several waves; the kernel's loop covers the rest), and at least one.
int64_t grid_stride_blocks(int64_t items, int64_t per_block, int blocks_per_sm);

// The current device's multiprocessor count (read once per device).
int device_multiprocessors();

}  // namespace hetero
