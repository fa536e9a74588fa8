#!/usr/bin/env python3
"""Turns image + conversation pairs into Energon-style shards hetero reads.

Input: a JSON Lines file, one sample per line, LLaVA style:
  {"image": "a.jpg" or ["a.jpg", "b.png"],
   "conversations": [{"from": "human", "value": "<image>\\nWhat is this?"},
                     {"from": "gpt", "value": "A cat."}]}
Each "<image>" in the text marks where an image goes (one per image, in order;
a sample without any gets its images in front of the first turn).

Output DIR: shard_000000.tar ... with KEY.0.jpg (images copied as they are when
JPEG or PNG, else converted to PNG with Pillow) and KEY.json =
{"tokens": [...], "loss_mask": [...]}, the text tokenized with a Hugging Face
tokenizer, one image token id per image and loss on the assistant's turns
only; plus .nv-meta/split.yaml, .nv-meta/.info.json and SHARD.tar.idx.

Run where transformers is installed (not needed by hetero's build or CI):
  python3 scripts/make_vlm_shards.py --input data.jsonl --images-root imgs/ \\
      --tokenizer nvidia/Nemotron-H-8B-Base-8K --image-token "<image>" --out /data/vlm
Then set data.image_token_id to the id it prints, and check the result with
  hetero-data verify /data/vlm --image-token-id ID
"""
import argparse
import io
import json
import os
import struct
import sys
import tarfile


def tokenize_conversation(tok, turns, image_id, n_images, image_marker):
    """Tokens and loss mask of one conversation: "User: ...\\n" turns without
    loss, "Assistant: ...<eos>" turns with loss; image markers become image_id."""
    tokens, mask = [], []
    placed = 0
    if image_marker not in "".join(t["value"] for t in turns):
        tokens += [image_id] * n_images
        mask += [0] * n_images
        placed = n_images
    for turn in turns:
        assistant = turn["from"] in ("gpt", "assistant")
        text = ("Assistant: " if assistant else "User: ") + turn["value"]
        parts = text.split(image_marker)
        for k, part in enumerate(parts):
            if k > 0:
                tokens.append(image_id)
                mask.append(0)
                placed += 1
            ids = tok(part, add_special_tokens=False)["input_ids"]
            tokens += ids
            mask += [1 if assistant else 0] * len(ids)
        end = [tok.eos_token_id] if assistant and tok.eos_token_id is not None else tok("\n", add_special_tokens=False)["input_ids"]
        tokens += end
        mask += [1 if assistant else 0] * len(end)
    if placed != n_images:
        raise ValueError(f"{placed} image markers for {n_images} images")
    return tokens, mask


def image_member(path):
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext in ("jpg", "jpeg", "png"):
        with open(path, "rb") as f:
            return ("jpg" if ext == "jpeg" else ext), f.read()
    from PIL import Image  # only for other formats
    buf = io.BytesIO()
    Image.open(path).convert("RGB").save(buf, format="PNG")
    return "png", buf.getvalue()


def write_index(tar_path, keys):
    """SHARD.tar.idx: the byte offset of each sample's first header, then the end."""
    starts, end = {}, 0
    with tarfile.open(tar_path) as t:
        for m in t.getmembers():
            key = m.name.split(".", 1)[0]
            starts.setdefault(key, m.offset)
            end = m.offset_data + (m.size + 511) // 512 * 512
    with open(tar_path + ".idx", "wb") as f:
        for k in keys:
            f.write(struct.pack("<Q", starts[k]))
        f.write(struct.pack("<Q", end))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", required=True)
    ap.add_argument("--images-root", default=".")
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--image-token", default="<image>", help="a token of the tokenizer's vocabulary")
    ap.add_argument("--out", required=True)
    ap.add_argument("--samples-per-shard", type=int, default=1000)
    a = ap.parse_args()
    if os.path.exists(a.out):
        sys.exit(f"{a.out} exists; give a new folder")
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(a.tokenizer)
    image_id = tok.convert_tokens_to_ids(a.image_token)
    if image_id is None or image_id == tok.unk_token_id:
        sys.exit(f"{a.image_token!r} is not a token of {a.tokenizer}; pass --image-token with one that is")
    os.makedirs(a.out + "/.nv-meta")
    shards, counts, bad = [], {}, 0
    tar, keys = None, []

    def close():
        if tar is not None:
            tar.close()
            write_index(os.path.join(a.out, shards[-1]), keys)
            counts[shards[-1]] = len(keys)

    with open(a.input) as f:
        for n, line in enumerate(f):
            sample = json.loads(line)
            images = sample.get("image") or []
            images = [images] if isinstance(images, str) else images
            try:
                tokens, mask = tokenize_conversation(tok, sample["conversations"], image_id, len(images), "<image>")
                members = [image_member(os.path.join(a.images_root, p)) for p in images]
            except (ValueError, OSError, KeyError) as e:
                print(f"line {n + 1}: skipped ({e})", file=sys.stderr)
                bad += 1
                continue
            if tar is None or len(keys) == a.samples_per_shard:
                close()
                shards.append(f"shard_{len(shards):06d}.tar")
                tar, keys = tarfile.open(os.path.join(a.out, shards[-1]), "w", format=tarfile.USTAR_FORMAT), []
            key = f"{n:09d}"
            payload = [(f"{key}.{i}.{ext}", data) for i, (ext, data) in enumerate(members)]
            payload.append((f"{key}.json", json.dumps({"tokens": tokens, "loss_mask": mask}).encode()))
            for name, data in payload:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            keys.append(key)
    close()
    with open(a.out + "/.nv-meta/split.yaml", "w") as f:
        f.write("split_parts:\n  train:\n" + "".join(f"    - {s}\n" for s in shards))
    with open(a.out + "/.nv-meta/.info.json", "w") as f:
        json.dump({"shard_counts": counts}, f, indent=2)
    print(f"wrote {sum(counts.values())} samples in {len(shards)} shards to {a.out} ({bad} skipped); "
          f"set data.image_token_id: {image_id}")


if __name__ == "__main__":
    main()
