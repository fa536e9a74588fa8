#!/usr/bin/env python3
"""Our RADIO ViT against transformers' RadioModel, same weights, same images.

For each case: a RadioModel with random weights (every parameter perturbed,
so biases, LayerNorms, position table and class/register tokens all matter)
is saved with save_pretrained and reloaded; images of several sizes (pixels
in [0, 1], sides multiples of the patch size, within max_img_size) go through
RadioModel(pixel_values).features in fp32 and through
`hetero-hf radio-features` (our encoder, tensor parallelism 1) from the same
folder. Per image it prints the minimum cosine over tokens and the largest
absolute difference; PASS needs every minimum cosine >= 0.9999.

Checkpoints read by ours: the save_pretrained folder (transformers' names),
the same weights under the released C-RADIO names with a fused attn.qkv
(legacy), and the reverse direction: `hetero-hf radio-export` of our seeded
encoder loaded by RadioModel.from_pretrained (missing/unexpected keys shown).

Usage: scripts/hf_radio_check.py --hetero-hf build-cuda/bin/hetero-hf --out DIR [--device cuda]
"""
import argparse
import json
import os
import subprocess
import sys
import traceback

import torch
import torch.nn.functional as F

try:
    from transformers import RadioConfig, RadioModel
except ImportError:  # not exported at the top level in some versions
    from transformers.models.radio.configuration_radio import RadioConfig
    from transformers.models.radio.modeling_radio import RadioModel
from safetensors import safe_open
from safetensors.torch import load_file, save_file

THRESHOLD = 0.9999
RECIPE = "recipes/nemotron_20l"
failures = []


def log(*a):
    print(*a, flush=True)


# Each case: our encoder section (as --set overrides over the recipe's
# C-RADIO encoder) and the matching RadioConfig kwargs; images as (H, W).
CASES = [
    {
        "name": "reduced",  # C-RADIO at a reduced width and depth
        "sets": {"num_layers": 4, "hidden_size": 256, "num_attention_heads": 4, "ffn_hidden_size": 1024,
                 "position_table_side": 32},
        "config": dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, mlp_ratio=4.0, patch_size=16,
                       max_img_size=512),
        "images": [(224, 224), (160, 320), (320, 96), (512, 512), (48, 400), (112, 208)],
    },
    {
        "name": "c-radio-v4-h",  # the recipe's encoder as is = RadioConfig() defaults (ViT-H/16, 3 cls + 7 registers)
        "sets": {},
        "config": dict(),
        "images": [(384, 512), (256, 256)],
    },
]


def perturb(model, seed):
    """Every parameter random at a scale where a wrong mapping shows."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_scale" in name:
                continue  # C-RADIO has none: identity (ours rejects other values)
            if name.endswith("weight") and p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[1] ** 0.5)
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:  # position table, class and register tokens
                p.copy_(torch.randn(p.shape, generator=g))


def file_keys(folder):
    keys = set()
    for f in os.listdir(folder):
        if f.endswith(".safetensors"):
            with safe_open(os.path.join(folder, f), "pt") as h:
                keys |= set(h.keys())
    return keys


def show_keys(model, folder):
    try:
        sd = set(model.state_dict().keys()) if model is not None else set()
        fk = file_keys(folder)
        log(f"  state_dict keys: {len(sd)}, file keys ({folder}): {len(fk)}")
        log("  in state_dict, not in file:", sorted(sd - fk)[:40])
        log("  in file, not in state_dict:", sorted(fk - sd)[:40])
    except Exception:
        traceback.print_exc()


def to_legacy(state_dict):
    """transformers' RadioModel names -> the released C-RADIO names (fused q; k; v)."""
    out, qkv = {}, {}
    for k, v in state_dict.items():
        if "layer_scale" in k or k == "summary_idxs":
            continue
        for part, target in enumerate(("attention.attention.query", "attention.attention.key",
                                       "attention.attention.value")):
            if target in k:
                qkv.setdefault(k.replace(target, "attn.qkv"), [None] * 3)[part] = v
                break
        else:
            out[k] = v
    out.update({k: torch.cat(v, 0) for k, v in qkv.items()})
    renames = [("embeddings.patch_projection", "model.patch_generator.embedder"),
               ("embeddings.position_embedding", "model.patch_generator.pos_embed"),
               ("embeddings.cls_register_token", "model.patch_generator.cls_token.token"),
               ("encoder.layer.", "model.blocks."), ("attention.output.dense", "attn.proj"),
               ("input_conditioner", "input_conditioner")]
    legacy = {}
    for k, v in out.items():
        for a, b in renames:
            k = k.replace(a, b, 1)
        legacy["radio_model." + k] = v.contiguous()
    return legacy


def hetero_hf(args, case, command, *options):
    """Runs `hetero-hf COMMAND` on the recipe with the case's encoder overrides, logging its output."""
    cmd = [args.hetero_hf, command, "--recipe", RECIPE, "--scale", "1n", *options]
    for k, v in case["sets"].items():
        cmd += ["--set", f"model.encoder.{k}={v}"]
    log("  $", " ".join(cmd))
    r = subprocess.run(cmd, capture_output=True, text=True)
    log("  " + (r.stdout + r.stderr).strip().replace("\n", "\n  "))
    if r.returncode != 0:
        raise RuntimeError(f"hetero-hf {command} exited {r.returncode}")


def ours(args, case, folder, images_file, out_file, dtype="fp32"):
    hetero_hf(args, case, "radio-features", "--hf", folder, "--images", images_file, "--out", out_file,
              "--device", args.device, "--dtype", dtype)
    return load_file(out_file)


def hf_features(model, images, device):
    feats = {}
    with torch.no_grad():
        for name, img in images.items():
            feats[name] = model(pixel_values=img[None].to(device)).features[0].float().cpu()
    return feats


def compare(label, want, got, threshold=THRESHOLD):
    ok = True
    for name in sorted(want):
        w = want[name].double()
        if name not in got:
            log(f"  {label} {name}: missing from our output")
            ok = False
            continue
        g = got[name].double()
        if g.shape != w.shape:
            log(f"  {label} {name}: shape ours {tuple(g.shape)} vs HF {tuple(w.shape)}")
            ok = False
            continue
        cos = F.cosine_similarity(g, w, dim=-1)
        diff = (g - w).abs().max().item()
        good = cos.min().item() >= threshold
        ok &= good
        log(f"  {label} {name} {tuple(w.shape)}: min cosine over tokens {cos.min().item():.8f}, "
            f"mean {cos.mean().item():.8f}, max |diff| {diff:.3e} (scale {w.abs().max().item():.3e}) "
            f"{'ok' if good else 'BELOW ' + str(threshold)}")
    return ok


def run_case(args, case):
    log(f"== case {case['name']}")
    folder = os.path.join(args.out, case["name"], "hf")
    model = None
    try:
        torch.manual_seed(0)
        config = RadioConfig(**case["config"])
        model = RadioModel(config)
        perturb(model, 1)
        model.save_pretrained(folder)
        log(f"  saved {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters to {folder}:",
            sorted(os.listdir(folder)))
        loaded, info = RadioModel.from_pretrained(folder, attn_implementation="eager", output_loading_info=True)
        log("  reloaded by transformers:", {k: v for k, v in info.items() if v})
        loaded = loaded.to(args.device).float().eval()
        for (n, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
            if not torch.equal(a.cpu(), b.cpu()):
                raise RuntimeError(f"transformers did not reload {n} as saved")
        model = loaded

        g = torch.Generator().manual_seed(2)
        images = {f"img{i}_{h}x{w}": torch.rand(3, h, w, generator=g) for i, (h, w) in enumerate(case["images"])}
        images_file = os.path.join(args.out, case["name"], "images.safetensors")
        save_file(images, images_file)
        want = hf_features(model, images, args.device)

        got = ours(args, case, folder, images_file, os.path.join(args.out, case["name"], "ours.safetensors"))
        if not compare("save_pretrained folder:", want, got):
            failures.append(case["name"] + " (transformers names)")

        legacy = os.path.join(args.out, case["name"], "legacy")
        os.makedirs(legacy, exist_ok=True)
        save_file(to_legacy(model.cpu().state_dict()), os.path.join(legacy, "model.safetensors"),
                  metadata={"format": "pt"})
        with open(os.path.join(folder, "config.json")) as f, open(os.path.join(legacy, "config.json"), "w") as o:
            o.write(f.read())
        model.to(args.device)
        got = ours(args, case, legacy, images_file, os.path.join(args.out, case["name"], "ours-legacy.safetensors"))
        if not compare("released C-RADIO names (fused qkv):", want, got):
            failures.append(case["name"] + " (legacy names)")

        if args.device == "cuda":  # informational: bf16 compute, design's GPU tolerance is cosine >= 0.999
            got = ours(args, case, folder, images_file, os.path.join(args.out, case["name"], "ours-bf16.safetensors"),
                       dtype="bf16")
            compare("bf16 (informational):", want, got, threshold=0.999)
    except Exception:
        traceback.print_exc()
        show_keys(model, folder)
        failures.append(case["name"] + " (exception)")


def run_export(args):
    case = CASES[0]
    log("== export: hetero-hf radio-export (seeded encoder) -> RadioModel.from_pretrained")
    folder = os.path.join(args.out, "export")
    model = None
    try:
        hetero_hf(args, case, "radio-export", "--out", folder)
        log("  config.json:", json.load(open(os.path.join(folder, "config.json"))))
        model, info = RadioModel.from_pretrained(folder, attn_implementation="eager", output_loading_info=True)
        log("  loading info:", info)
        unexpected = [k for k in info.get("missing_keys", []) if k != "summary_idxs"] + list(
            info.get("unexpected_keys", [])) + list(info.get("mismatched_keys", []))
        if unexpected:
            failures.append("export (keys: %s)" % unexpected)
            show_keys(model, folder)
        model = model.to(args.device).float().eval()
        images_file = os.path.join(args.out, case["name"], "images.safetensors")
        images = load_file(images_file)
        want = hf_features(model, images, args.device)
        got = ours(args, case, folder, images_file, os.path.join(args.out, "export-ours.safetensors"))
        if not compare("exported checkpoint:", want, got):
            failures.append("export (features)")
    except Exception:
        traceback.print_exc()
        show_keys(model, folder)
        failures.append("export (exception)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hetero-hf", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--cases", default=",".join(c["name"] for c in CASES))
    args = ap.parse_args()
    # fp32 means fp32: no TF32 in HF's matmuls.
    torch.set_float32_matmul_precision("highest")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    import transformers
    log(f"torch {torch.__version__}, transformers {transformers.__version__}, device {args.device}")
    os.makedirs(args.out, exist_ok=True)
    for case in CASES:
        if case["name"] in args.cases.split(","):
            os.makedirs(os.path.join(args.out, case["name"]), exist_ok=True)
            run_case(args, case)
    if CASES[0]["name"] in args.cases.split(","):
        run_export(args)
    if failures:
        log("FAIL:", "; ".join(failures))
        return 1
    log(f"PASS: every image's per-token features have cosine >= {THRESHOLD} (fp32)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
