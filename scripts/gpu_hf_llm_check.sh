#!/usr/bin/env bash
# Hugging Face interop of the LLM against transformers' NemotronHForCausalLM
# (issue 3), in fp32 on one GPU, for the tiny architectures of nemotron_20l
# (M, -, *) and nemotron_54l (M, E, *, E), both directions:
#   A  our tiny run (--save-weights-at 2) -> hetero-hf llm-export ->
#      NemotronHForCausalLM.from_pretrained: its logits vs hetero-hf
#      llm-logits --run on the snapshot;
#   B  a random NemotronHForCausalLM of the same config, save_pretrained ->
#      hetero-hf llm-logits --hf: ours vs transformers' logits.
# Each prints max |ours - HF| / max |HF logits| and PASS or FAIL at 1e-4
# (scripts/hf_llm_check.py). Needs python3 with torch and transformers 5;
# builds build-cuda with scripts/cuda_build.sh (with .bundle when present).
# Usage: scripts/gpu_hf_llm_check.sh OUT_DIR
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/gpu-hf-llm-check}
mkdir -p "$out"
python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)' \
  || { echo "needs python3 with torch and transformers"; exit 1; }
t0=$(date +%s)
source scripts/cuda_build.sh
cuda_build "$out" hetero-train hetero-launch hetero-hf || exit 1
nvidia-smi -L

bin=build-cuda/bin
check=(python3 scripts/hf_llm_check.py)
single=(--set scales.tiny.mode=colocated --set scales.tiny.llm.ranks=1 --set scales.tiny.gpus_per_node=1)
"${check[@]}" tokens --vocab 64 --rows 2 --len 40 --out "$out/tokens.txt"
status=0
rm -f "$out/results.log"
for r in nemotron_20l nemotron_54l; do
  recipe=(--recipe "recipes/$r" --scale tiny)
  rm -rf "$out/$r-run" "$out/$r-hf" "$out/$r-hf-random" "$out/$r-hf-small-dt"
  echo "== $r A: our run -> llm-export -> transformers"
  $bin/hetero-launch local "${recipe[@]}" "${single[@]}" --iters 2 --out "$out/$r-run" \
    -- --device cuda --dtype fp32 --save-weights-at 2 > "$out/$r-run.log" 2>&1 \
    || { echo "training failed:"; tail -20 "$out/$r-run.log"; status=1; continue; }
  $bin/hetero-hf llm-export "${recipe[@]}" --run "$out/$r-run" --iter 2 --out "$out/$r-hf" || { status=1; continue; }
  $bin/hetero-hf llm-logits "${recipe[@]}" --run "$out/$r-run" --iter 2 --tokens-file "$out/tokens.txt" \
    --device cuda --dtype fp32 --out "$out/$r-ours-A.safetensors" || { status=1; continue; }
  "${check[@]}" compare --label "$r A (export -> transformers)" --hf "$out/$r-hf" \
    --ours "$out/$r-ours-A.safetensors" 2>&1 | tee -a "$out/results.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1

  echo "== $r B: transformers (random) -> save_pretrained -> llm-logits --hf"
  "${check[@]}" random --config "$out/$r-hf/config.json" --out "$out/$r-hf-random" || { status=1; continue; }
  $bin/hetero-hf llm-logits "${recipe[@]}" --hf "$out/$r-hf-random" --tokens-file "$out/tokens.txt" \
    --device cuda --dtype fp32 --out "$out/$r-ours-B.safetensors" || { status=1; continue; }
  "${check[@]}" compare --label "$r B (transformers -> ours)" --hf "$out/$r-hf-random" \
    --ours "$out/$r-ours-B.safetensors" 2>&1 | tee -a "$out/results.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  if [ "$r" = nemotron_20l ]; then
    # Known difference, reported, not judged: transformers 5 clamps dt at
    # time_step_min (0.001), our forward (as Megatron's) does not; random
    # weights never get there, these heads do.
    echo "== $r B with dt below time_step_min on half of the heads (INFO)"
    "${check[@]}" random --small-dt --config "$out/$r-hf/config.json" --out "$out/$r-hf-small-dt" \
      && $bin/hetero-hf llm-logits "${recipe[@]}" --hf "$out/$r-hf-small-dt" --tokens-file "$out/tokens.txt" \
        --device cuda --dtype fp32 --out "$out/$r-ours-small-dt.safetensors" \
      && "${check[@]}" compare --informative --label "$r B, dt < time_step_min" --hf "$out/$r-hf-small-dt" \
        --ours "$out/$r-ours-small-dt.safetensors" 2>&1 | tee -a "$out/results.log"
    # ...and with our optional clamp at transformers' value, judged.
    echo "== $r B with dt below time_step_min, ours with --set model.llm.dt_clamp_min=0.001"
    $bin/hetero-hf llm-logits "${recipe[@]}" --set model.llm.dt_clamp_min=0.001 --hf "$out/$r-hf-small-dt" \
      --tokens-file "$out/tokens.txt" --device cuda --dtype fp32 --out "$out/$r-ours-clamped.safetensors" \
      && "${check[@]}" compare --label "$r B, dt < time_step_min, dt_clamp_min=0.001" --hf "$out/$r-hf-small-dt" \
        --ours "$out/$r-ours-clamped.safetensors" 2>&1 | tee -a "$out/results.log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  fi
done
echo "== summary"
grep -E "^(PASS|FAIL|INFO)" "$out/results.log"
echo "== total $(( $(date +%s) - t0 )) s, exit status $status"
exit $status
