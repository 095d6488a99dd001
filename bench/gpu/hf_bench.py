#!/usr/bin/env python3
"""Hugging Face transformers on the inputs bench_gpu wrote: BertModel in fp16 with SDPA attention
(random weights: timing does not depend on them), the same token ids per case, on the same GPU.

    python3 bench/gpu/hf_bench.py --inputs OUT/inputs --out OUT/hf.json [--iters 20] [--device cuda]

Each case file (bench_gpu's --inputs folder) is `<model>-<case>.bin`: int32 little-endian batch
size B, then B sequence lengths, then the ids of every sequence back to back. Fixed-length cases
run as a [B, L] tensor with no attention mask (transformers' fastest path); variable-length ones
padded to the longest with an attention mask, as transformers users run them. Inputs are on the
GPU before timing; the encoder's output stays there. p50 over `iters` forwards after 3 warm-ups.
--device cpu --dtype float32 checks the script on a machine without a GPU.

--dtype float32 --tf32 off is the exact-float32 contender of bertkit's float32 mode (PyTorch's
matmuls and cuDNN then use no TF32: "highest" float32 matmul precision). --cases 32x128,128x128
times only those cases.
"""
import argparse
import glob
import json
import os
import re
import statistics
import struct
import sys
import time

import torch

SHAPES = {
    "bert-base": dict(num_hidden_layers=12, hidden_size=768, num_attention_heads=12, intermediate_size=3072),
    "bert-large": dict(num_hidden_layers=24, hidden_size=1024, num_attention_heads=16, intermediate_size=4096),
    "bert-tiny": dict(num_hidden_layers=2, hidden_size=128, num_attention_heads=2, intermediate_size=256),
}


def read_case(path):
    with open(path, "rb") as f:
        data = f.read()
    (b,) = struct.unpack_from("<i", data, 0)
    lengths = list(struct.unpack_from(f"<{b}i", data, 4))
    ids = torch.frombuffer(bytearray(data[4 + 4 * b:]), dtype=torch.int32).to(torch.int64)
    assert ids.numel() == sum(lengths), f"{path}: {ids.numel()} ids for lengths summing to {sum(lengths)}"
    return lengths, ids


def make_model(name, device, dtype):
    from transformers import BertConfig, BertModel

    cfg = BertConfig(vocab_size=30522, max_position_embeddings=512, type_vocab_size=2, **SHAPES[name])
    model = None
    for kwargs in ({"attn_implementation": "sdpa", "dtype": dtype}, {"attn_implementation": "sdpa", "torch_dtype": dtype}):
        try:
            with torch.device(device):
                model = BertModel._from_config(cfg, **kwargs)
            break
        except TypeError:
            continue
    if model is None:
        cfg._attn_implementation = "sdpa"
        with torch.device(device):
            model = BertModel(cfg)
    model.pooler = None  # bertkit's timed forward runs the encoder only
    model = model.to(device=device, dtype=dtype).eval()
    return model, getattr(model.config, "_attn_implementation", "unknown")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", default="float16")
    ap.add_argument("--tf32", choices=["off", "on", "default"], default="default")
    ap.add_argument("--cases", default="", help="comma-separated case ids (default: every case found)")
    args = ap.parse_args()
    if args.tf32 != "default":
        on = args.tf32 == "on"
        torch.backends.cuda.matmul.allow_tf32 = on
        torch.backends.cudnn.allow_tf32 = on
        torch.set_float32_matmul_precision("high" if on else "highest")
    wanted = set(c for c in args.cases.split(",") if c)
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    by_model = {}
    for path in sorted(glob.glob(os.path.join(args.inputs, "*.bin"))):
        m = re.match(r"^(bert-[a-z]+)-(\d+x\d+(?:-varlen)?)\.bin$", os.path.basename(path))
        if m and (not wanted or m.group(2) in wanted):
            by_model.setdefault(m.group(1), []).append((m.group(2), path))
    import transformers

    report = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "dtype": args.dtype,
        "tf32": args.tf32,
        "iters": args.iters,
        "models": [],
    }
    for name in [n for n in SHAPES if n in by_model]:
        t0 = time.perf_counter()
        model, impl = make_model(name, device, dtype)
        print(f"{name}: transformers {transformers.__version__}, attention {impl}, {args.dtype}, built in {time.perf_counter() - t0:.1f} s", flush=True)
        report.setdefault("attn_implementation", impl)
        cases = []
        # Bench order: fixed lengths by sequence then batch, then the variable-length batches.
        def order(item):
            b, l = item[0].split("-")[0].split("x")
            return (item[0].endswith("varlen"), int(l), int(b))
        for case_id, path in sorted(by_model[name], key=order):
            lengths, ids = read_case(path)
            B, L = len(lengths), max(lengths)
            if all(n == L for n in lengths):
                input_ids = ids.view(B, L).to(device)
                mask = None
            else:
                input_ids = torch.zeros(B, L, dtype=torch.int64)
                mask = torch.zeros(B, L, dtype=torch.int64)
                at = 0
                for s, n in enumerate(lengths):
                    input_ids[s, :n] = ids[at:at + n]
                    mask[s, :n] = 1
                    at += n
                input_ids, mask = input_ids.to(device), mask.to(device)
            times = []
            try:
                with torch.inference_mode():
                    for it in range(3 + args.iters):
                        sync()
                        a = time.perf_counter()
                        model(input_ids=input_ids, attention_mask=mask)
                        sync()
                        if it >= 3:
                            times.append(time.perf_counter() - a)
            except torch.OutOfMemoryError as e:  # report, keep going
                print(f"  {name} {case_id}: out of memory ({e})", flush=True)
                torch.cuda.empty_cache()
                continue
            p50 = statistics.median(times)
            tokens = sum(lengths)
            cases.append({"id": case_id, "batch": B, "seq": L, "tokens": tokens, "padded_tokens": B * L,
                          "p50_ms": p50 * 1e3, "min_ms": min(times) * 1e3, "tokens_per_s": tokens / p50})
            print(f"  {name:10s} {case_id:14s} {tokens:7d} tokens  p50 {p50 * 1e3:8.3f} ms  {tokens / p50:10.0f} tokens/s", flush=True)
        report["models"].append({"model": name, "cases": cases})
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
