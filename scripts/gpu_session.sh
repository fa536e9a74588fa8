#!/usr/bin/env bash
# Everything a one-GPU session checks, in one call (the device machine keeps
# no state between calls): the CUDA build with the layer tests, the Hugging
# Face checks of the LLM and the RADIO encoder, and the multi-rank jobs on
# one GPU (scripts/gpu_shared_hetero.sh) with a reduced-width C-RADIO.
# Usage: scripts/gpu_session.sh OUT_DIR [ITERS]   (needs .bundle, see scripts/bundle_deps.sh)
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/gpu-session}
iters=${2:-30}
mkdir -p "$out"
t0=$(date +%s)
source scripts/cuda_build.sh
cuda_build "$out" hetero-train hetero-launch hetero-profile hetero-parity hetero-hf trainer_tests || exit 1
echo "== layer tests"
timeout 120 build-cuda/bin/trainer_tests --gtest_brief=1 2>&1 | tail -8

if [ "${HF_LLM:-1}" = 1 ]; then
  echo "== Hugging Face NemotronH (scripts/gpu_hf_llm_check.sh)"
  timeout 200 scripts/gpu_hf_llm_check.sh "$out/hf-llm" 2>&1 | grep -v "^== build\|^GPU " | tail -40
fi
echo "== Hugging Face RADIO (scripts/gpu_hf_radio_check.sh)"
timeout 300 scripts/gpu_hf_radio_check.sh "$out/hf-radio" 2>&1 | grep -v "^== build\|^GPU " | tail -30

# A reduced-width C-RADIO (the recipe's architecture: LayerNorm, biases,
# GELU, 16-pixel patches) in front of the tiny hybrid LLM.
source scripts/presets.sh
radio=("${reduced_radio[@]}")
[ "${SHARED:-1}" = 1 ] && echo "== multi-rank jobs on one GPU (scripts/gpu_shared_hetero.sh, $iters iterations)"
[ "${SHARED:-1}" = 1 ] && timeout 280 scripts/gpu_shared_hetero.sh build-cuda "$out/shared" "$iters" "${radio[@]}"
if [ "${TP_COMPARE:-0}" = 1 ]; then
  # tp=2 with and without sequence parallelism against one process: fp32
  # (tight) and bf16 (does sp drift more than plain tp?).
  DTYPE=fp32 JOBS="single hetero-1+tp2 hetero-1+tp2-sp" timeout 200 \
    scripts/gpu_shared_hetero.sh build-cuda "$out/tp-fp32" 10 "${radio[@]}"
  DTYPE=bf16 JOBS="single hetero-1+tp2" timeout 150 scripts/gpu_shared_hetero.sh build-cuda "$out/tp-bf16" "$iters" "${radio[@]}"
fi
echo "== total $(( $(date +%s) - t0 )) s"
