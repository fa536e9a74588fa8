#!/usr/bin/env bash
# Builds the CUDA configuration and runs tiny hetero jobs on the GPUs of
# this machine (the GPU machine's check for the foundation issue).
# Usage: scripts/gpu_smoke.sh OUT_DIR
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/gpu-smoke}
mkdir -p "$out"
prefix=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
bundle=()
[ -d .bundle ] && bundle=(-DHETERO_BUNDLE="$PWD/.bundle")
cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DHETERO_BUILD_TESTS=OFF \
  -DCMAKE_PREFIX_PATH="$prefix" "${bundle[@]}" 2>&1 | grep -E "hetero-train|Error|error|Warning" | head -20
cmake --build build-cuda -j"$(nproc)" 2>&1 | grep -E "error|FAILED|Linking" | head -40 || true
[ -x build-cuda/bin/hetero-train ] || { echo "CUDA build failed"; exit 1; }
nvidia-smi -L
gpus=$(nvidia-smi -L | wc -l)
run() {  # name, then --set overrides
  local name=$1; shift
  echo "== $name"
  build-cuda/bin/hetero-launch local --recipe recipes/nemotron_20l --scale tiny --out "$out/$name" "$@" -- --device cuda
  echo "exit status $?"
}
R=recipes/nemotron_20l
run single --set scales.tiny.mode=colocated --set scales.tiny.llm.ranks=1 --set scales.tiny.gpus_per_node=1
if [ "$gpus" -ge 2 ]; then
  run hetero-1+1 --set scales.tiny.encoder.ranks=1 --set scales.tiny.llm.ranks=1 --set scales.tiny.gpus_per_node=2
  build-cuda/bin/hetero-parity diff "$out/hetero-1+1" "$out/single" --loss-rtol 1e-4 --grad-norm-rtol 1e-4
fi
if [ "$gpus" -ge 4 ]; then
  run hetero-1+3 --set scales.tiny.encoder.ranks=1 --set scales.tiny.llm.ranks=3 --set scales.tiny.gpus_per_node=4 \
    --set train.global_batch_size=9
  run hetero-2+2 --set scales.tiny.encoder.ranks=2 --set scales.tiny.llm.ranks=2 --set scales.tiny.gpus_per_node=4
  build-cuda/bin/hetero-parity diff "$out/hetero-2+2" "$out/single" --loss-rtol 1e-4 --grad-norm-rtol 1e-4
fi
