#!/bin/sh
# Host emulation of the chunk-score backward kernels (no GPU needed), not
# part of CI or CMake. From the repository root:
#   sh tests/kernel_emu/run.sh
# It compiles chunk_scores_bwd_emu.cpp (a thread-by-thread re-implementation
# of trainer/kernels/chunk_scores.cu's backward index math, shuffles
# emulated) with g++ and compares it with the CPU loop of
# model/chunk_scores.cpp on odd shapes (q = 128, 100, 37, 256, 200, ...;
# hg = 1, 3, 16; 1 to 5 groups; the scalar and 16-byte-load paths) to 1e-5
# of each gradient's largest magnitude. Prints "all shapes match" and exits
# 0 on success. Keep it in step with the kernel when the kernel changes.
set -e
cd "$(dirname "$0")/../.."
g++ -std=c++17 -O2 -Wall -Wextra -I trainer tests/kernel_emu/chunk_scores_bwd_emu.cpp -o /tmp/chunk_scores_bwd_emu
/tmp/chunk_scores_bwd_emu
