#!/usr/bin/env bash
# One-GPU checks of the CUDA build: builds it (with the layer tests), runs
# the layer tests, a tiny colocated bf16 run with traces and its profile
# (text and HTML), a stage-1 run whose frozen parts must stay bit-identical,
# and a reduced-width RADIO + hybrid (Mamba-2/attention/MLP) LLM bf16 run
# for throughput.
# Usage: scripts/gpu_checks.sh OUT_DIR   (needs .bundle from scripts/bundle_deps.sh)
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/gpu-checks}
mkdir -p "$out"
t0=$(date +%s)
source scripts/cuda_build.sh
cuda_build "$out" hetero-train hetero-launch hetero-profile hetero-parity trainer_tests || exit 1
nvidia-smi -L

echo "== layer tests (LibTorch $(python3 -c 'import torch;print(torch.__version__)'))"
build-cuda/bin/trainer_tests --gtest_brief=1 2>&1 | tail -8

launch() {  # run dir, then --set overrides, then -- trainer args
  local dir=$1; shift
  build-cuda/bin/hetero-launch local --recipe recipes/nemotron_20l --scale tiny --out "$dir" "$@"
  echo "exit status $?"
}
single=(--set scales.tiny.mode=colocated --set scales.tiny.llm.ranks=1 --set scales.tiny.gpus_per_node=1)

echo "== tiny, one GPU colocated, bf16, 20 iterations"
launch "$out/tiny-bf16" "${single[@]}" --iters 20 -- --device cuda --dtype bf16 | tail -3
build-cuda/bin/hetero-profile "$out/tiny-bf16" --html "$out/tiny-bf16.html" | head -30

echo "== stage 1 on GPU: ViT and LLM frozen for 5 iterations"
launch "$out/stage1" "${single[@]}" --iters 5 --set 'train.freeze=[vision, llm]' \
  -- --device cuda --dtype bf16 --save-weights-at 0,5 | tail -2
for m in encoder llm; do
  a="$out/stage1/weights/iter-000000/$m-stage-0.safetensors" b="$out/stage1/weights/iter-000005/$m-stage-0.safetensors"
  python3 - "$a" "$b" <<'PY'
import sys
from safetensors import safe_open
a, b = (safe_open(p, "pt") for p in sys.argv[1:3])
changed = [k for k in a.keys() if not a.get_tensor(k).equal(b.get_tensor(k))]
print(sys.argv[1].split('/')[-1], "tensors:", len(list(a.keys())), "changed:", changed)
PY
done

echo "== reduced-width RADIO + LLM, one GPU colocated, bf16"
source scripts/presets.sh
wide=("${reduced_vlm[@]}")
launch "$out/wide-bf16" "${single[@]}" "${wide[@]}" --iters 30 -- --device cuda --dtype bf16 | tail -4
build-cuda/bin/hetero-profile "$out/wide-bf16" | head -24
echo "== total $(( $(date +%s) - t0 )) s"
