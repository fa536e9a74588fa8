#!/usr/bin/env bash
# The encoder benchmark of issue 16 on one GPU: builds hetero-hf (CUDA) into
# build-cuda, then scripts/bench_radio_hf.py times C-RADIO-H forward +
# backward (bf16) in transformers' RadioModel and in ours on the same images
# and prints patches/s, MFU, peak memory, the ratios and PASS/FAIL per target.
# Needs python3 with torch, transformers (models/radio) and safetensors.
# Usage: scripts/bench_encoder_gpu.sh OUT_DIR [bench_radio_hf.py options, e.g. --px 704 --reference]
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/bench-encoder}
shift || true
mkdir -p "$out"
prefix=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
bundle=()
[ -d .bundle ] && bundle=(-DHETERO_BUNDLE="$PWD/.bundle")
t0=$(date +%s)
cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" "${bundle[@]}" \
  > "$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; exit 1; }
cmake --build build-cuda -j"$(nproc)" --target hetero-hf > "$out/build.log" 2>&1 ||
  { grep -E "error|FAILED" -A5 "$out/build.log" | head -60; exit 1; }
echo "== build took $(( $(date +%s) - t0 )) s"
python3 scripts/bench_radio_hf.py --hetero-hf build-cuda/bin/hetero-hf --out "$out" "$@" 2>&1 | tee "$out/bench.log"
status=${PIPESTATUS[0]}
echo "== total $(( $(date +%s) - t0 )) s, exit status $status"
exit "$status"
