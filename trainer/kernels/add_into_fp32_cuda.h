// Host entry point of the fp32 += bf16 kernel (add_into_fp32.cu): raw
// pointers and a stream; returns its launch's cudaError_t.
#pragma once

#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

namespace hetero {

// into[i] += add[i] for `elements` values (fp32 and bf16), both contiguous
// and 16-byte aligned, elements % 8 == 0: the sum in fp32, as ATen's
// mixed-dtype add_ forms it.
cudaError_t add_bf16_into_fp32(float* into, const __nv_bfloat16* add, int64_t elements, cudaStream_t stream);

}  // namespace hetero
