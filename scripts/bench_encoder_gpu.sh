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
t0=$(date +%s)
source scripts/cuda_build.sh
cuda_build "$out" hetero-hf || exit 1
python3 scripts/bench_radio_hf.py --hetero-hf build-cuda/bin/hetero-hf --out "$out" "$@" 2>&1 | tee "$out/bench.log"
status=${PIPESTATUS[0]}
echo "== total $(( $(date +%s) - t0 )) s, exit status $status"
exit "$status"
