#!/usr/bin/env python3
"""Hugging Face transformers' NemotronHForCausalLM against our forward
(hetero-hf llm-logits), on the GPU machine (torch + transformers 5).

  hf_llm_check.py tokens  --vocab V --rows R --len L --out FILE
  hf_llm_check.py random  --config CONFIG.json --out DIR [--seed S] [--small-dt]
  hf_llm_check.py compare --hf DIR --ours LOGITS.safetensors [--tol 1e-4] [--label NAME] [--informative]

`random` builds a randomly initialised NemotronHForCausalLM from the
config.json our export wrote (so: the recipe's architecture), perturbs the
tensors whose HF initialisation is constant (norm weights, D, conv bias,
the MoE score-correction bias) so that a wrong layout cannot hide behind
equal values, and saves it with save_pretrained. `compare` loads DIR with
from_pretrained in fp32, runs the tokens stored in the logits file of our
forward, and prints max |ours - HF| / max |HF| and PASS or FAIL at --tol.
It also reports what from_pretrained did not load, and the result with
transformers' dt clamp at time_step_min switched off (our forward does not
clamp dt, as Megatron and mamba_ssm do not: transformers 5 clamps dt at
time_step_min, modeling_nemotron_h.py:381; --small-dt makes heads where that
clamp changes the result). On any error it prints the traceback and
the differences between the file's tensors and the model's state_dict, so
that one run on the GPU machine says what to fix.
"""
import argparse
import os
import re
import sys
import traceback


def fp32_exact():
    import torch
    # TF32 would cost ~1e-3 relative in fp32 matmuls and convolutions.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return torch


def device_of(torch):
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def cmd_tokens(a):
    import random
    rng = random.Random(a.seed)
    # Id 0 is our image placeholder (and HF's pad token): ids from 1.
    rows = [[rng.randrange(1, a.vocab) for _ in range(a.len)] for _ in range(a.rows)]
    with open(a.out, "w") as f:
        for r in rows:
            f.write(",".join(map(str, r)) + "\n")
    print(f"tokens: {a.rows} x {a.len} in [1, {a.vocab}) -> {a.out}")


def cmd_random(a):
    torch = fp32_exact()
    from transformers import NemotronHConfig, NemotronHForCausalLM
    torch.manual_seed(a.seed)
    # The way from_pretrained reads it.
    cfg = NemotronHConfig.from_pretrained(os.path.dirname(os.path.abspath(a.config)))
    model = NemotronHForCausalLM(cfg).float()
    with torch.no_grad():
        for name, p in list(model.named_parameters()) + list(model.named_buffers()):
            if name.endswith("norm.weight") or name.endswith("norm_f.weight"):
                p.copy_(1 + 0.2 * torch.randn_like(p))
            elif name.endswith(".D") or name.endswith("conv1d.bias"):
                p.copy_(torch.randn_like(p) * 0.5 + (1.0 if name.endswith(".D") else 0.0))
            elif name.endswith("e_score_correction_bias"):
                p.copy_(0.05 * torch.randn_like(p))
            elif name.endswith("A_log"):
                p.add_(0.1 * torch.randn_like(p))
            elif name.endswith("dt_bias") and a.small_dt:
                # Half of the heads with dt far below time_step_min: where
                # transformers clamps dt and our forward does not.
                p[::2] = -9.0
    model.save_pretrained(a.out)
    print(f"random: NemotronHForCausalLM ({sum(p.numel() for p in model.parameters())} parameters, layers "
          f"{cfg.hybrid_override_pattern}) saved to {a.out}: {sorted(os.listdir(a.out))}")


def file_tensors(d):
    from safetensors import safe_open
    out = {}
    for f in sorted(os.listdir(d)):
        if f.endswith(".safetensors"):
            with safe_open(os.path.join(d, f), "pt") as s:
                for k in s.keys():
                    out[k] = tuple(s.get_slice(k).get_shape())
    return out


def normalised(name):
    # The checkpoint's names as transformers 5 holds them in memory.
    name = re.sub(r"^backbone\.", "model.", name)
    return re.sub(r"\.experts\.\d+\.(up_proj|down_proj)\.weight$", r".experts.\1", name)


def print_key_differences(d, model):
    try:
        files = file_tensors(d)
        print(f"-- {d}: {len(files)} tensors in the files")
        state = {k: tuple(v.shape) for k, v in model.state_dict().items()} if model is not None else {}
        print(f"-- model state_dict: {len(state)} tensors")
        in_file = {normalised(k) for k in files}
        only_model = sorted(k for k in state if k not in in_file)
        only_file = sorted(k for k in files if normalised(k) not in state)
        print("-- in the model, not in the files:", only_model[:40], f"({len(only_model)})")
        print("-- in the files, not in the model:", only_file[:40], f"({len(only_file)})")
        for k, shape in sorted(files.items())[:400]:
            m = state.get(normalised(k))
            if m is not None and m[-len(shape):] != shape:
                print(f"-- shape: file {k} {shape} vs model {normalised(k)} {m}")
    except Exception:
        traceback.print_exc()


def hf_logits(torch, model, tokens, clamp_dt=True):
    saved = {}
    if not clamp_dt:
        for name, m in model.named_modules():
            if hasattr(m, "time_step_limit"):
                saved[name] = m.time_step_limit
                m.time_step_limit = (0.0, float("inf"))
    try:
        with torch.no_grad():
            out = model(input_ids=tokens, use_cache=False)
        return out.logits.float()
    finally:
        for name, m in model.named_modules():
            if name in saved:
                m.time_step_limit = saved[name]


def cmd_compare(a):
    model = None
    try:
        torch = fp32_exact()
        from safetensors.torch import load_file
        from transformers import NemotronHForCausalLM
        import transformers
        print(f"== {a.label}: torch {torch.__version__}, transformers {transformers.__version__}, HF {a.hf}, ours {a.ours}")
        ours_file = load_file(a.ours)
        ours = ours_file["logits"].float()
        tokens = ours_file["tokens"].round().long()
        dev = device_of(torch)
        kwargs = dict(output_loading_info=True, attn_implementation="eager")
        try:
            model, info = NemotronHForCausalLM.from_pretrained(a.hf, dtype=torch.float32, **kwargs)
        except TypeError:
            model, info = NemotronHForCausalLM.from_pretrained(a.hf, torch_dtype=torch.float32, **kwargs)
        model = model.to(dev).eval()
        problems = {k: v for k, v in info.items() if v}
        if problems:
            print("from_pretrained loading info (not loaded as is):", problems)
        theirs = hf_logits(torch, model, tokens.to(dev)).cpu()
        if theirs.shape != ours.shape:
            raise RuntimeError(f"logits shapes differ: HF {tuple(theirs.shape)}, ours {tuple(ours.shape)}")
        scale = theirs.abs().max().item()
        diff = (ours - theirs).abs()
        rel = diff.max().item() / scale
        worst = divmod(int(diff.amax(-1).argmax()), tokens.shape[1])
        print(f"max |ours - HF| = {diff.max().item():.3e}, max |HF logits| = {scale:.3e}, "
              f"relative {rel:.3e} (worst at batch row {worst[0]}, position {worst[1]})")
        print("per position, max |diff| / scale (row 0):",
              " ".join(f"{v:.1e}" for v in (diff[0].amax(-1) / scale).tolist()))
        unclamped = hf_logits(torch, model, tokens.to(dev), clamp_dt=False).cpu()
        print(f"with transformers' dt clamp at time_step_min={model.config.time_step_min} switched off: "
              f"relative {(ours - unclamped).abs().max().item() / scale:.3e} "
              f"(the clamp itself moves HF's logits by {(theirs - unclamped).abs().max().item() / scale:.3e})")
        ok = rel <= a.tol and not info.get("missing_keys") and not info.get("mismatched_keys")
        if a.informative:
            print(f"INFO {a.label}: relative {rel:.3e} (tolerance {a.tol:g} not applied)")
            return 0
        print(f"{'PASS' if ok else 'FAIL'} {a.label}: relative {rel:.3e} (tolerance {a.tol:g})")
        return 0 if ok else 1
    except Exception:
        traceback.print_exc()
        print_key_differences(a.hf, model)
        print(f"FAIL {a.label}: exception")
        return 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tokens")
    t.add_argument("--vocab", type=int, required=True)
    t.add_argument("--rows", type=int, default=2)
    t.add_argument("--len", type=int, default=40)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", required=True)
    r = sub.add_parser("random")
    r.add_argument("--config", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--small-dt", action="store_true", help="dt_bias -9 on every other head (dt ~ 1e-4)")
    c = sub.add_parser("compare")
    c.add_argument("--hf", required=True)
    c.add_argument("--ours", required=True)
    c.add_argument("--tol", type=float, default=1e-4)
    c.add_argument("--label", default="check")
    c.add_argument("--informative", action="store_true", help="print INFO instead of PASS/FAIL and exit 0")
    a = p.parse_args()
    if a.cmd == "tokens":
        return cmd_tokens(a) or 0
    if a.cmd == "random":
        try:
            return cmd_random(a) or 0
        except Exception:
            traceback.print_exc()
            print("FAIL random: could not build or save the model")
            return 1
    return cmd_compare(a)


if __name__ == "__main__":
    sys.exit(main())
