#!/usr/bin/env bash
# Builds the CUDA configuration and runs tiny jobs on this machine's GPUs:
# one GPU colocated (the reference) and 1+1 hetero, in bf16 and fp32, with
# embedding dumps and traces, then diffs each pair with hetero-parity; the
# 1+1 bf16 run's profile and HTML; with 3+ GPUs 1 encoder + LLM pp=2; with
# 4+ GPUs 2+2 and the 20-layer hybrid pattern at reduced width with LLM tp=2.
# Usage: scripts/gpu_smoke.sh OUT_DIR [ITERS]
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/gpu-smoke}
iters=${2:-20}
mkdir -p "$out"
source scripts/cuda_build.sh
cuda_build "$out" hetero-train hetero-launch hetero-profile hetero-parity || exit 1
nvidia-smi -L
gpus=$(nvidia-smi -L | wc -l)
run() {  # name dtype, then --set overrides
  local name=$1 dtype=$2; shift 2
  echo "== $name ($dtype)"
  build-cuda/bin/hetero-launch local --recipe recipes/nemotron_20l --scale tiny --iters "$iters" --out "$out/$name" "$@" \
    -- --device cuda --dtype "$dtype" --dump-embeddings-at 1,2,$iters
  echo "exit status $?"
}
single=(--set scales.tiny.mode=colocated --set scales.tiny.llm.ranks=1 --set scales.tiny.gpus_per_node=1)
hetero=(--set scales.tiny.encoder.ranks=1 --set scales.tiny.llm.ranks=1 --set scales.tiny.gpus_per_node=2)
for dtype in bf16 fp32; do
  run "single-$dtype" $dtype "${single[@]}"
  if [ "$gpus" -ge 2 ]; then
    run "hetero-$dtype" $dtype "${hetero[@]}"
    preset=$([ $dtype = bf16 ] && echo bf16 || echo fp32)
    echo "== parity hetero-$dtype vs single-$dtype"
    build-cuda/bin/hetero-parity diff "$out/hetero-$dtype" "$out/single-$dtype" --preset "$preset" \
      --markdown "$out/parity-$dtype.md"
    echo "parity exit status $?"
  fi
done
if [ "$gpus" -ge 2 ]; then  # issue 5: the 2-GPU hetero run's report and HTML
  build-cuda/bin/hetero-profile "$out/hetero-bf16" --html "$out/hetero-bf16.html" | head -40
fi
if [ "$gpus" -ge 3 ]; then  # issue 8: 1 encoder GPU + the LLM in pp=2
  run hetero-1+pp2 bf16 --set scales.tiny.encoder.ranks=1 --set scales.tiny.llm.ranks=2 --set scales.tiny.llm.pp=2 \
    --set scales.tiny.gpus_per_node=3
  build-cuda/bin/hetero-profile "$out/hetero-1+pp2" | head -40
fi
if [ "$gpus" -ge 4 ]; then  # issue 2: 2+2; issue 3: the 20-layer pattern, reduced width, llm tp=2
  run hetero-2+2 bf16 --set scales.tiny.encoder.ranks=2 --set scales.tiny.llm.ranks=2 --set scales.tiny.gpus_per_node=4
  run hetero-20l-tp2 bf16 --set scales.tiny.encoder.ranks=2 --set scales.tiny.llm.ranks=2 --set scales.tiny.llm.tp=2 \
    --set scales.tiny.gpus_per_node=4 --set model.llm.num_layers=20 \
    --set 'model.llm.hybrid_override_pattern="M-M-M-M*-M-M-M-M-M*-"' --set model.llm.hidden_size=1024 \
    --set model.llm.num_attention_heads=16 --set model.llm.num_query_groups=4 --set model.llm.head_dim=64 \
    --set model.llm.mamba_num_heads=32 --set model.llm.mamba_head_dim=64 --set model.llm.ssm_state_size=64 \
    --set model.llm.n_groups=4 --set model.llm.chunk_size=128 --set model.llm.ffn_hidden_size=4096 \
    --set model.llm.vocab_size=32768 --set model.llm.seq_length=2048 --set train.global_batch_size=16
  build-cuda/bin/hetero-profile "$out/hetero-20l-tp2" | head -30
fi
