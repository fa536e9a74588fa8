#!/usr/bin/env bash
# Real data on one GPU (issue 14, "Done means" 3): generates a 90/10 blend of
# Megatron indexed text and image-text shards with 1024-px JPEGs
# (hetero-data generate), trains the 20L recipe at reduced LLM depth
# colocated on one GPU for ~20 iterations from it, and prints data/wait as a
# share of the step (hetero-profile) and the loader's images/s.
# Usage: scripts/gpu_data_check.sh OUT_DIR [ITERS]
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/gpu-data-check}
iters=${2:-20}
mkdir -p "$out"
if [ ! -x build-cuda/bin/hetero-train ] || [ ! -x build-cuda/bin/hetero-data ]; then
  source scripts/cuda_build.sh
  cuda_build "$out" hetero-train hetero-launch hetero-profile hetero-data hetero-data-bench || exit 1
fi
bin=build-cuda/bin
data="$out/data"
if [ ! -d "$data" ]; then
  echo "== generating the blend into $data"
  $bin/hetero-data generate "$data" --documents 4000 --images 600 --image-px 1024 --shards 6 \
    --vocab-size 131072 --image-token-id 10 || exit 1
fi
$bin/hetero-data inspect "$data/vlm" --sample 0 | head -12
echo "== loader benchmark (one core)"
$bin/hetero-data-bench --images 100 --tokens 20000000
# The 20L recipe's widths, 4 layers deep (one of each kind plus a second
# Mamba-2), colocated on this GPU; GBS 16 of microbatch 1.
run=(--recipe recipes/nemotron_20l --scale 1n --iters "$iters" --out "$out/run"
     --set scales.1n.mode=colocated --set scales.1n.gpus_per_node=1 --set scales.1n.llm.ranks=1
     --set scales.1n.llm.tp=1 --set scales.1n.encoder.ranks=1 --set scales.1n.encoder.tp=1
     --set model.llm.num_layers=4 --set 'model.llm.hybrid_override_pattern="M-M*"'
     --set train.global_batch_size=16 --set train.train_iters="$iters" --set train.lr_warmup_iters=2
     --set train.save_interval=0  # a data check: no checkpoint to write (and the disk is small)
     --set "data.blend=[{path: $data/text/documents, weight: 0.9}, {path: $data/vlm, weight: 0.1}]"
     --set data.image_token_id=10 --set data.pad_token_id=0 --set data.packing=true
     --set data.prefetch_depth=2 --set data.loader_threads=4)
echo "== training $iters iterations"
$bin/hetero-launch local "${run[@]}" -- --device cuda --dtype bf16 > "$out/run.log" 2>&1
status=$?
grep -E "iteration +[0-9]+/|data:" "$out/run.log" | tail -25
[ $status -eq 0 ] || { echo "training failed (exit $status)"; tail -30 "$out/run.log"; exit 1; }
echo "== profile"
$bin/hetero-profile "$out/run" > "$out/profile.txt" 2>&1
grep -iE "data|step|iteration" "$out/profile.txt" | head -20
python3 - "$out/run" <<'PY'
import glob, json, sys
# data/wait as a share of the step, from the trace (iterations after the first 3).
events = []
for f in glob.glob(sys.argv[1] + "/trace/rank-*.json"):
    t = json.load(open(f))
    events += t["traceEvents"] if isinstance(t, dict) else t
wait = {}
for e in events:
    it = (e.get("args") or {}).get("iter")
    if e.get("ph") == "X" and it and it > 3 and e.get("name") == "data/wait":
        wait[it] = wait.get(it, 0) + e["dur"] / 1e3
steps = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl")][3:]
step_ms = sum(m["iter_time_ms"] for m in steps)
wait_ms = sum(wait.get(m["iter"], 0) for m in steps)
print(f"data/wait: {wait_ms:.1f} ms of {step_ms:.1f} ms step time over iterations 4..{steps[-1]['iter']}: "
      f"{100 * wait_ms / step_ms:.2f}% of the step")
PY
