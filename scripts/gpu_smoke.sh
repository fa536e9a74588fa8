#!/usr/bin/env bash
# Builds the CUDA configuration and runs tiny jobs on this machine's GPUs:
# one GPU colocated (the reference) and 1+1 hetero, in bf16 and fp32, with
# embedding dumps and traces, then diffs each pair with hetero-parity.
# Usage: scripts/gpu_smoke.sh OUT_DIR [ITERS]
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/gpu-smoke}
iters=${2:-20}
mkdir -p "$out"
prefix=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
bundle=()
[ -d .bundle ] && bundle=(-DHETERO_BUNDLE="$PWD/.bundle")
cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DHETERO_BUILD_TESTS=OFF \
  -DCMAKE_PREFIX_PATH="$prefix" "${bundle[@]}" 2>&1 | grep -E "hetero-train|Error|error" | head -20
cmake --build build-cuda -j"$(nproc)" 2>&1 | grep -E "error|FAILED" | head -40
[ -x build-cuda/bin/hetero-train ] || { echo "CUDA build failed"; exit 1; }
nvidia-smi -L
gpus=$(nvidia-smi -L | wc -l)
run() {  # name dtype, then --set overrides
  local name=$1 dtype=$2; shift 2
  echo "== $name ($dtype)"
  build-cuda/bin/hetero-launch local --recipe recipes/nemotron_20l --scale tiny --iters "$iters" --out "$out/$name" "$@" \
    -- --device cuda --dtype "$dtype" --dump-embeddings-at 1,2,$iters
  echo "exit status $?"
}
single=(--set scales.tiny.mode=colocated --set scales.tiny.llm.ranks=1 --set scales.tiny.gpus_per_node=1)
hetero=(--set scales.tiny.encoder.ranks=1 --set scales.tiny.llm.ranks=1 --set scales.tiny.gpus_per_node=2)
for dtype in bf16 fp32; do
  run "single-$dtype" $dtype "${single[@]}"
  if [ "$gpus" -ge 2 ]; then
    run "hetero-$dtype" $dtype "${hetero[@]}"
    preset=$([ $dtype = bf16 ] && echo bf16 || echo fp32)
    echo "== parity hetero-$dtype vs single-$dtype"
    build-cuda/bin/hetero-parity diff "$out/hetero-$dtype" "$out/single-$dtype" --preset "$preset" \
      --markdown "$out/parity-$dtype.md"
    echo "parity exit status $?"
  fi
done
if [ "$gpus" -ge 4 ]; then
  run hetero-2+2 bf16 --set scales.tiny.encoder.ranks=2 --set scales.tiny.llm.ranks=2 --set scales.tiny.gpus_per_node=4
fi
