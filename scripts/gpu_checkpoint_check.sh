#!/usr/bin/env bash
# Issue 13 on one GPU: the 20L recipe's LLM at full width (colocated, bf16,
# text-only samples, seq 4096, global batch 4 x micro batch 1) saves a
# checkpoint at iteration 8 while iterations 9-10 run (late enough that the
# background pinning of the host buffers, ~8 s for 45 GB, is done: a save
# before that waits for it), then a second start resumes from it. Prints
# the checkpoint's size, rank 0's write time, the
# ckpt/save stall against the median step (from the trace), the load time
# and the resumed losses beside the first start's.
# Usage: scripts/gpu_checkpoint_check.sh BUILD_DIR OUT_DIR
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:?build dir}
out=${2:?out dir}
mkdir -p "$out"
run=${CKPT_RUN_DIR:-/tmp/ckpt-20l}   # the node's local disk: the checkpoint is ~44 GB
rm -rf "$run"
full=(--set scales.tiny.mode=colocated --set scales.tiny.llm.ranks=1 --set scales.tiny.gpus_per_node=1
      --set model.llm.num_layers=20 --set 'model.llm.hybrid_override_pattern=M-M-M-M*-M-M-M-M-M*-'
      --set model.llm.hidden_size=4096 --set model.llm.vocab_size=131072 --set model.llm.seq_length=4096
      --set model.llm.num_attention_heads=32 --set model.llm.num_query_groups=8 --set model.llm.head_dim=128
      --set model.llm.ffn_hidden_size=21504 --set model.llm.mamba_num_heads=128 --set model.llm.mamba_head_dim=64
      --set model.llm.ssm_state_size=128 --set model.llm.n_groups=8 --set model.llm.conv_kernel=4
      --set model.llm.chunk_size=128 --set data.text_only_fraction=1.0
      --set train.global_batch_size=4 --set train.micro_batch_size=1)
launch() { "$build/bin/hetero-launch" local --recipe recipes/nemotron_20l --scale tiny --out "$run" "$@"; }

t0=$(date +%s)
echo "== first start: 10 iterations, checkpoint after iteration 8 (written while 9 and 10 run)"
launch --iters 10 "${full[@]}" --set train.save_interval=8 --set train.save_at_end=false --set train.keep_last=1 \
  -- --device cuda 2>&1 | tee "$out/first.log" | grep -E "iteration|checkpoint|error" | cut -c1-200
cp "$run/metrics.jsonl" "$out/first-metrics.jsonl" 2>/dev/null
cp "$run/trace/rank-00000.json" "$out/first-trace.json" 2>/dev/null
echo "== checkpoint: $(du -sh "$run/checkpoints/iter-0000008" | cut -f1) in $run/checkpoints/iter-0000008"
grep -h "wrote its files" "$run/logs/rank-00000.log"
echo "== second start: resumes after iteration 8, runs 9 and 10 again (no saves)"
launch --iters 10 "${full[@]}" --set train.save_interval=0 -- --device cuda 2>&1 | tee "$out/second.log" |
  grep -E "iteration|resumed|error" | cut -c1-200
cp "$run/trace/rank-00000.json" "$out/second-trace.json" 2>/dev/null
python3 - "$out" <<'EOF'
import json, statistics, sys
out = sys.argv[1]
def events(path):
    try:
        data = json.load(open(path))
    except Exception as e:
        print("trace", path, "unreadable:", e); return []
    return data["traceEvents"] if isinstance(data, dict) else data
first = [json.loads(l) for l in open(out + "/first-metrics.jsonl")]
steps = [m["iter_time_ms"] for m in first if m["iter"] > 1]
median = statistics.median(steps)
saves = [e["dur"] / 1000 for e in events(out + "/first-trace.json") if e.get("name") == "ckpt/save" and e.get("ph") == "X"]
print(f"median step (iterations 2-10): {median:.1f} ms; per-iteration: " + ", ".join(f"{m['iter']}:{m['iter_time_ms']:.0f}" for m in first))
for i, s in enumerate(saves):
    print(f"ckpt/save region {i}: {s:.1f} ms = {100 * s / median:.2f}% of the median step")
loads = [e["dur"] / 1e6 for e in events(out + "/second-trace.json") if e.get("name") == "ckpt/load" and e.get("ph") == "X"]
print("ckpt/load:", ", ".join(f"{s:.1f} s" for s in loads))
EOF
python3 - "$run" "$out" <<'EOF'
import json, sys
run, out = sys.argv[1], sys.argv[2]
first = {m["iter"]: m for m in (json.loads(l) for l in open(out + "/first-metrics.jsonl"))}
now = [json.loads(l) for l in open(run + "/metrics.jsonl")]
print("metrics.jsonl after the second start: iterations", [m["iter"] for m in now])
for m in now:
    if m["iter"] > 8:
        a = first[m["iter"]]["lm_loss"]
        print(f"iteration {m['iter']}: lm loss first start {a:.6f}, resumed {m['lm_loss']:.6f}, rel diff {abs(m['lm_loss'] - a) / a:.2e}")
EOF
echo "== total $(( $(date +%s) - t0 )) s"
rm -rf "$run"
