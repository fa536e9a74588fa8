#!/usr/bin/env bash
# On a 2-GPU machine: the LLM split into two pipeline stages (colocated,
# the encoder on stage 0) against one GPU, bf16, with traces for the bubble.
# Usage: scripts/gpu_pipeline.sh OUT_DIR [ITERS]   (after scripts/gpu_smoke.sh built build-cuda)
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/gpu-pipeline}
iters=${2:-30}
common=(--recipe recipes/nemotron_20l --scale tiny --iters "$iters" --set model.llm.num_layers=8
        --set model.llm.hidden_size=256 --set model.llm.ffn_hidden_size=1024 --set model.llm.num_attention_heads=8
        --set train.global_batch_size=16)
build-cuda/bin/hetero-launch local "${common[@]}" --out "$out/single" \
  --set scales.tiny.mode=colocated --set scales.tiny.llm.ranks=1 --set scales.tiny.gpus_per_node=1 -- --device cuda
build-cuda/bin/hetero-launch local "${common[@]}" --out "$out/pp2" \
  --set scales.tiny.mode=colocated --set scales.tiny.llm.ranks=2 --set scales.tiny.llm.pp=2 \
  --set scales.tiny.gpus_per_node=2 -- --device cuda
build-cuda/bin/hetero-parity diff "$out/pp2" "$out/single" --preset bf16 --brief
