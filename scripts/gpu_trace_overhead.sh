#!/usr/bin/env bash
# Tracing overhead on one GPU: the reduced-width run of gpu_checks.sh, with
# traces (NVTX + RUN/trace, GPU-true durations) and with --no-trace, twice
# each in alternation; prints each run's median step time.
# Usage: scripts/gpu_trace_overhead.sh OUT_DIR [ITERS]   (after scripts/gpu_checks.sh built build-cuda,
#        or it builds hetero-train/hetero-launch itself)
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/gpu-trace-overhead}
iters=${2:-25}
mkdir -p "$out"
if [ ! -x build-cuda/bin/hetero-train ]; then
  source scripts/cuda_build.sh
  cuda_build "$out" hetero-train hetero-launch || exit 1
fi
source scripts/presets.sh
wide=(--set scales.tiny.mode=colocated --set scales.tiny.llm.ranks=1 --set scales.tiny.gpus_per_node=1
      "${reduced_vlm[@]}")
median_step() {  # median iter_time_ms after the first 3 iterations
  python3 -c "import json,statistics,sys; t=[json.loads(l)['iter_time_ms'] for l in open(sys.argv[1])][3:]; print(f'{statistics.median(t):.1f}')" "$1"
}
for round in 1 2; do
  for mode in traced untraced; do
    flag=(); [ $mode = untraced ] && flag=(--no-trace)
    dir="$out/$mode-$round"
    build-cuda/bin/hetero-launch local --recipe recipes/nemotron_20l --scale tiny --iters "$iters" --out "$dir" "${wide[@]}" \
      -- --device cuda --dtype bf16 "${flag[@]}" > "$dir.log" 2>&1 || { echo "$mode run failed"; tail -5 "$dir.log"; exit 1; }
    echo "$mode round $round: median step $(median_step "$dir/metrics.jsonl") ms"
  done
done
