#!/usr/bin/env bash
# LLM training speed on one GPU (issue 15's table), in one call: builds the
# CUDA configuration, runs the GPU tests of the fast paths, measures a bf16
# GEMM ceiling, then per shape one hetero-train run (colocated, one rank,
# bf16, text-only samples: the LLM alone; seq_length 4096, global batch 4 x
# micro batch 1) and prints tokens/s, model TFLOP/s (model/llm_flops.h: 3 x
# the forward matmul FLOPs, active experts only), MFU against 989 TFLOP/s
# (H100/H200 dense bf16) and against the measured GEMM ceiling, peak GPU
# memory (nvidia-smi; and the caching allocator's maxima from metrics.jsonl,
# all GiB) and the time from start to iteration 1; then the same
# shapes through transformers' NemotronHForCausalLM (fp32 weights + bf16
# autocast, scripts/bench_hf_nemotron_h.py), and a per-layer-kind time
# breakdown from the runs' differences (the 1-MLP-layer run isolates the
# output layer; see the end of this script).
# Shapes: 20l (nemotron_20l, full width, 20 layers), mamba8 (8 x Mamba-2 at
# 20L widths), mlp8 (8 x MLP at 20L widths), mlp1 (1 MLP layer, for the
# breakdown), meme (nemotron_54l widths, 4 layers MEME).
# KERNEL_TRACE_AT=N records iteration N of each shape (of TRACE_SHAPES only,
# where given) with the PyTorch profiler and sums its GPU time by op and
# kernel into OUT_DIR/SHAPE.kernels.txt (scripts/kernel_top.py); that
# iteration pays the profiler's cost, so the medians leave it out.
# Usage: [SHAPES="20l mamba8 mlp8 mlp1 meme"] [ITERS=6] [HF=1] [TESTS=1] [KERNEL_TRACE_AT=N] [TRACE_SHAPES=...] \
#        scripts/bench_llm_gpu.sh OUT_DIR      (needs .bundle, see scripts/bundle_deps.sh)
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/bench-llm}
iters=${ITERS:-6}
shapes=${SHAPES:-20l mamba8 mlp8 mlp1 meme}
mkdir -p "$out"
t_start=$(date +%s)
targets=(hetero-train)
[ "${TESTS:-1}" = 1 ] && targets+=(trainer_tests)
source scripts/cuda_build.sh
cuda_build "$out" "${targets[@]}" || exit 1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader

if [ "${TESTS:-1}" = 1 ]; then
  echo "== GPU tests of the fast paths against their references"
  timeout 120 build-cuda/bin/trainer_tests --gtest_brief=1 \
    --gtest_filter='GpuFastPaths.*:SsdScan.*:VocabParallel.*:Params.*:ComputeWeights.*:LlmFlops.*:Moe*.*' 2>&1 | tail -15
fi

echo "== bf16 GEMM ceiling (8192^3, torch.matmul)"
python3 - > "$out/gemm.txt" <<'PY'
import torch, time
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16); b = torch.randn_like(a)
for _ in range(5): a @ b
torch.cuda.synchronize(); t = time.perf_counter(); n = 30
for _ in range(n): a @ b
torch.cuda.synchronize(); print(f"{2 * 8192**3 * n / (time.perf_counter() - t) / 1e12:.0f}")
PY
ceiling=$(cat "$out/gemm.txt")
echo "bf16 GEMM ceiling: $ceiling TFLOP/s"

# One rank, both modules colocated; the encoder frozen and small (text-only samples never reach it).
# No checkpoints: a benchmark keeps no state (and the disk holds about one 20L checkpoint).
common=(--scale 1n --set train.save_interval=0 --set scales.1n.mode=colocated --set scales.1n.nodes=1 --set scales.1n.gpus_per_node=1
        --set scales.1n.llm.ranks=1 --set scales.1n.llm.tp=1 --set scales.1n.llm.ep=1 --set scales.1n.llm.etp=1
        --set train.global_batch_size=4 --set train.micro_batch_size=1 --set data.text_only_fraction=1.0
        --set 'train.freeze=[vision, projector]' --set model.encoder.num_layers=1 --set model.encoder.hidden_size=64
        --set model.encoder.num_attention_heads=1 --set model.encoder.ffn_hidden_size=128)
shape_args() {  # sets args=(...) for shape $1
  local l=model.llm
  case $1 in
    20l) args=(--recipe recipes/nemotron_20l) ;;
    mamba8) args=(--recipe recipes/nemotron_20l --set $l.num_layers=8 --set "$l.hybrid_override_pattern=\"MMMMMMMM\"") ;;
    mlp8) args=(--recipe recipes/nemotron_20l --set $l.num_layers=8 --set "$l.hybrid_override_pattern=\"--------\"") ;;
    mlp1) args=(--recipe recipes/nemotron_20l --set $l.num_layers=1 --set "$l.hybrid_override_pattern=\"-\"") ;;
    meme) args=(--recipe recipes/nemotron_54l --set $l.num_layers=4 --set "$l.hybrid_override_pattern=\"MEME\"") ;;
    *) echo "unknown shape $1" >&2; return 1 ;;
  esac
}

summary="$out/summary.txt"
: > "$summary"
for shape in $shapes; do
  shape_args "$shape" || continue
  dir="$out/$shape"
  rm -rf "$dir"
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 250 > "$dir.mem" 2>/dev/null &
  smi=$!
  t0=$(date +%s.%N)
  trace=() traced_iter=0
  if [ -n "${KERNEL_TRACE_AT:-}" ] && [[ " ${TRACE_SHAPES:-$shape} " == *" $shape "* ]]; then
    trace=(--kernel-trace-at "$KERNEL_TRACE_AT") traced_iter=$KERNEL_TRACE_AT
  fi
  build-cuda/bin/hetero-train "${args[@]}" "${common[@]}" --iters "$iters" --out "$dir" --device cuda --dtype bf16 \
    --no-trace "${trace[@]}" 2>&1 | while IFS= read -r line; do printf '%s %s\n' "$(date +%s.%N)" "$line"; done > "$dir.log"
  status=${PIPESTATUS[0]}
  kill "$smi" 2>/dev/null; wait "$smi" 2>/dev/null
  if [ "$status" -ne 0 ] || [ ! -s "$dir/metrics.jsonl" ]; then
    echo "$shape: hetero-train failed (exit $status)"; tail -n 8 "$dir.log"; continue
  fi
  python3 - "$shape" "$dir" "$t0" "$ceiling" "$traced_iter" >> "$summary" <<'PY'
import json, re, statistics, sys
shape, d, t0, ceiling, traced = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
m = [json.loads(l) for l in open(d + "/metrics.jsonl")]
steady = m[2:] if len(m) > 3 else m[1:]  # after warm-up
steady = [x for x in steady if x["iter"] != traced] or steady  # without the profiled iteration
ms = statistics.median(x["iter_time_ms"] for x in steady)
tflops = statistics.median(x["tflops_per_gpu"] for x in steady)
first = next((float(l.split()[0]) for l in open(d + ".log") if re.search(r"iteration +1/", l)), float("nan"))
mem = max((int(x) for x in open(d + ".mem").read().split() if x.isdigit()), default=0) / 1024
print(f"{shape}\t{m[0]['tokens'] / ms * 1e3:.0f}\t{tflops:.1f}\t{100 * tflops / 989:.1f}\t{100 * tflops / ceiling:.1f}"
      f"\t{mem:.1f}\t{first - t0:.1f}\t{ms:.1f}\t{m[-1]['lm_loss']:.4f}"
      f"\t{m[-1].get('memory_max_allocated_bytes', 0) / 2**30:.1f}\t{m[-1].get('memory_max_reserved_bytes', 0) / 2**30:.1f}")
PY
  if [ "$traced_iter" != 0 ] && [ -f "$dir/trace/kernels-rank-00000.json" ]; then
    python3 scripts/kernel_top.py "$dir/trace/kernels-rank-00000.json" --top "${KERNEL_TOP:-30}" --by-shape > "$out/$shape.kernels.txt"
    head -n 1 "$out/$shape.kernels.txt"
  fi
  tail -n 1 "$summary" | awk -F'\t' '{printf "%s: tokens/s %s | model TFLOP/s %s | MFU %s%% of 989, %s%% of the GEMM ceiling | peak memory %s GB (allocator: %s max allocated, %s max reserved) | start -> iteration 1 %s s | step %s ms | lm loss %s\n", $1,$2,$3,$4,$5,$6,$10,$11,$7,$8,$9}'
done

echo "== per-layer-kind time (ms per iteration of 4 x 4096 tokens, from the runs' differences)"
python3 - "$summary" <<'PY'
import sys
rows = {l.split("\t")[0]: float(l.split("\t")[7]) for l in open(sys.argv[1]) if l.strip()}
if all(k in rows for k in ("mlp8", "mlp1")):
    mlp = (rows["mlp8"] - rows["mlp1"]) / 7
    rest = rows["mlp1"] - mlp  # embedding, output layer + cross-entropy, optimizer, fixed costs
    print(f"MLP layer {mlp:.0f} | output layer, loss, optimizer and fixed costs {rest:.0f}")
    if "mamba8" in rows:
        mamba = (rows["mamba8"] - rest) / 8
        print(f"Mamba-2 layer {mamba:.0f}")
        if "20l" in rows:  # 9 M, 9 -, 2 *
            print(f"attention layer {(rows['20l'] - rest - 9 * mamba - 9 * mlp) / 2:.0f}")
else:
    print("(needs the mlp8 and mlp1 shapes)")
PY

if [ "${HF:-1}" = 1 ] && python3 -c "import transformers; transformers.NemotronHForCausalLM" 2>/dev/null; then
  echo "== transformers NemotronHForCausalLM, same shapes (fp32 weights, bf16 autocast)"
  for shape in $shapes; do
    [ "$shape" = mlp1 ] && continue
    [ -f "$out/$shape/config.yaml" ] || continue
    timeout 240 python3 scripts/bench_hf_nemotron_h.py --config "$out/$shape/config.yaml" --label "$shape" \
      --steps "${HF_STEPS:-2}" 2>&1 | grep -E "^hf |Error" | tail -n 2
  done
fi
echo "== total $(( $(date +%s) - t_start )) s"
