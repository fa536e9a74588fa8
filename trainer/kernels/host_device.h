// Kernel bodies that the CPU build also compiles: a function marked
// HETERO_HOST_DEVICE is a CUDA __host__ __device__ function under nvcc and a
// plain inline function under the C++ compiler, so the per-element math of a
// kernel can be run, and tested, by a CPU loop over the same indices.
#pragma once

#ifdef __CUDACC__
#define HETERO_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define HETERO_HOST_DEVICE inline
#endif
