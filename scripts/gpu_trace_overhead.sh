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
wide=(--set scales.tiny.mode=colocated --set scales.tiny.llm.ranks=1 --set scales.tiny.gpus_per_node=1
      --set model.llm.num_layers=8 --set 'model.llm.hybrid_override_pattern="M-M*M-M*"' --set model.llm.hidden_size=1024
      --set model.llm.num_attention_heads=16 --set model.llm.num_query_groups=4 --set model.llm.head_dim=64
      --set model.llm.mamba_num_heads=32 --set model.llm.mamba_head_dim=64 --set model.llm.ssm_state_size=64
      --set model.llm.n_groups=4 --set model.llm.chunk_size=128
      --set model.llm.ffn_hidden_size=4096 --set model.llm.vocab_size=32768 --set model.llm.seq_length=2048
      --set model.encoder.num_layers=8 --set model.encoder.hidden_size=768 --set model.encoder.num_attention_heads=12
      --set model.encoder.ffn_hidden_size=3072 --set model.encoder.patch_size=16 --set model.encoder.position_table_side=64
      --set model.encoder.min_patches=64 --set model.encoder.max_patches=1024
      --set data.image_min_px=224 --set data.image_max_px=1024 --set train.global_batch_size=16)
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
