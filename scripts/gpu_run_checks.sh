#!/usr/bin/env bash
# Several GPU checks in one device call: configures and builds every target
# they need once into build-cuda (the scripts below then find it built),
# then runs the named checks in order, each under its own time limit, so a
# slow one cannot take the others' output with it.
# Checks: ckpt (scripts/gpu_checkpoint_check.sh), data (gpu_data_check.sh),
# encoder (bench_encoder_gpu.sh), tests (the GPU tests of the fast paths),
# shared (gpu_shared_hetero.sh with a reduced-width C-RADIO), llm
# (bench_llm_gpu.sh, without its tests; SHAPES, HF and ITERS pass through).
# Usage: scripts/gpu_run_checks.sh OUT_DIR CHECK [CHECK ...]   (needs .bundle)
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?out dir}
shift
mkdir -p "$out"
t0=$(date +%s)
targets=(hetero-train hetero-launch hetero-profile)
for c in "$@"; do
  case $c in
    data) targets+=(hetero-data hetero-data-bench) ;;
    encoder) targets+=(hetero-hf) ;;
    tests) targets+=(trainer_tests) ;;
    shared) targets+=(hetero-parity) ;;
  esac
done
source scripts/cuda_build.sh
cuda_build "$out" "${targets[@]}" || exit 1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
# The multi-rank jobs take the reduced-width C-RADIO of scripts/presets.sh.
source scripts/presets.sh
radio=("${reduced_radio[@]}")
for c in "$@"; do
  t=$(date +%s)
  echo "== check $c (at $(( t - t0 )) s)"
  case $c in
    ckpt) timeout "${CKPT_S:-330}" scripts/gpu_checkpoint_check.sh build-cuda "$out/ckpt" ;;
    data) timeout "${DATA_S:-200}" scripts/gpu_data_check.sh "$out/data" 20 ;;
    # ENCODER_ARGS: bench_radio_hf.py options, e.g. "--px 704".
    encoder) timeout "${ENCODER_S:-300}" scripts/bench_encoder_gpu.sh "$out/encoder" ${ENCODER_ARGS:-} 2>&1 |
               grep -v "^== build" ;;
    tests) timeout "${TESTS_S:-150}" build-cuda/bin/trainer_tests --gtest_brief=1 \
             --gtest_filter='Gpu*:ImageAttention*:ComputeWeights*:SsdScan*:VocabParallel*:Moe*' 2>&1 |
             grep -v -E "Skipped|no Gloo|^$" | tail -40 ;;
    # SHARED_SETS: more --set overrides, e.g. "--set scales.tiny.train.lr=1e-4" (the recipes' production lr).
    shared) timeout "${SHARED_S:-280}" scripts/gpu_shared_hetero.sh build-cuda "$out/shared" "${SHARED_ITERS:-20}" \
              "${radio[@]}" ${SHARED_SETS:-} ;;
    llm) TESTS=0 timeout "${LLM_S:-400}" scripts/bench_llm_gpu.sh "$out/llm" 2>&1 | grep -v "^== build" ;;
    *) echo "unknown check '$c' (ckpt, data, encoder, tests, shared, llm)"; exit 2 ;;
  esac
  echo "== check $c: exit status $? after $(( $(date +%s) - t )) s"
done
echo "== total $(( $(date +%s) - t0 )) s"
