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
t0=$(date +%s)
source scripts/cuda_build.sh
cuda_build "$out" hetero-hf trainer_tests || exit 1
nvidia-smi -L

echo "== HfRadio layer tests (CUDA build; the tp=2 test needs Gloo and skips without it)"
build-cuda/bin/trainer_tests --gtest_filter='HfRadio*:PositionTable*' --gtest_brief=1 2>&1 | tail -6

echo "== transformers RadioModel vs hetero-hf radio-features"
python3 scripts/hf_radio_check.py --hetero-hf build-cuda/bin/hetero-hf --out "$out" --device cuda 2>&1 |
  tee "$out/hf_radio_check.log"
status=${PIPESTATUS[0]}
echo "== total $(( $(date +%s) - t0 )) s, exit status $status"
exit "$status"
