// Host entry point of the fused AdamW kernel (adamw.cu): raw pointers and a
// stream; returns the launch's cudaError_t.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

#include "kernels/adamw.h"

namespace hetero {

// w, m, v updated in place from g, all fp32 [elements] contiguous. Where
// decay_mask (bool [elements]) is given, elements with false take no weight
// decay; elsewhere all take s.decay.
cudaError_t adamw_step_fp32(float* w, const float* g, float* m, float* v, const bool* decay_mask, int64_t elements,
                            const AdamWScalars& s, cudaStream_t stream);

}  // namespace hetero
