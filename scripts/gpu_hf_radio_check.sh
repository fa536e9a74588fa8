#!/usr/bin/env bash
# Issue 7 item 4 on a GPU machine: transformers' RadioModel and our RADIO
# encoder, same weights and images, give per-token features with cosine
# >= 0.9999 in fp32 (scripts/hf_radio_check.py prints PASS or FAIL).
# Builds the CUDA configuration into build-cuda (as scripts/gpu_checks.sh),
# runs the HfRadio layer tests there, then the comparison.
# Needs python3 with torch, transformers (with models/radio) and safetensors.
# Usage: scripts/gpu_hf_radio_check.sh OUT_DIR
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/gpu-hf-radio}
mkdir -p "$out"
prefix=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
bundle=()
[ -d .bundle ] && bundle=(-DHETERO_BUNDLE="$PWD/.bundle")
t0=$(date +%s)
cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" "${bundle[@]}" \
  > "$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; exit 1; }
grep -E "hetero-train" "$out/configure.log"
cmake --build build-cuda -j"$(nproc)" --target hetero-hf trainer_tests > "$out/build.log" 2>&1 ||
  { grep -E "error|FAILED" -A5 "$out/build.log" | head -60; exit 1; }
echo "== build took $(( $(date +%s) - t0 )) s"
nvidia-smi -L

echo "== HfRadio layer tests (CUDA build; the tp=2 test needs Gloo and skips without it)"
build-cuda/bin/trainer_tests --gtest_filter='HfRadio*:PositionTable*' --gtest_brief=1 2>&1 | tail -6

echo "== transformers RadioModel vs hetero-hf radio-features"
python3 scripts/hf_radio_check.py --hetero-hf build-cuda/bin/hetero-hf --out "$out" --device cuda 2>&1 |
  tee "$out/hf_radio_check.log"
status=${PIPESTATUS[0]}
echo "== total $(( $(date +%s) - t0 )) s, exit status $status"
exit "$status"
