#!/usr/bin/env python3
"""Joins bench_gpu's and hf_bench.py's JSON into one table (stdout), OUT/results.json and
OUT/results.md (with card, date and commit, ready for bench/RESULTS.md), and checks the issue's
bars: BERT-base fp16 128x128 at >= 50% of the dense fp16 peak and >= 1.3x transformers, the
variable-length batch >= 1.7x, fp16 hidden states within worst-token cosine 0.99999 of the
float32 CPU engine; float32 mode >= transformers float32 with TF32 off (bertkit-fp32.json vs
hf-fp32.json, when present); the Node rows (node.md, when present) are appended.

    python3 bench/gpu/report.py OUT [--tests-status N] [--commit SHA] [--alt FILE --alt-label NAME]

--alt: a second bertkit run of the same cases (default bertkit-wgmma.json; run.sh passes the
run with bertkit's own kernels, bertkit-own.json) shown in extra columns.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--tests-status", type=int, default=None)
    ap.add_argument("--commit", default=None)
    ap.add_argument("--wgmma", default="skip", help="pass / fail / skip: the Hopper wgmma path's tests")
    ap.add_argument("--alt", default="bertkit-wgmma.json")
    ap.add_argument("--alt-label", default="wgmma")
    args = ap.parse_args()
    bk = json.load(open(os.path.join(args.out, "bertkit.json")))
    hf_path = os.path.join(args.out, "hf.json")
    hf = json.load(open(hf_path)) if os.path.exists(hf_path) else {"models": []}
    commit = args.commit
    if commit is None:
        try:
            root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
            commit = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
            dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip()
            commit = (commit or "unknown") + ("+dirty" if dirty else "")
        except OSError:
            commit = "unknown"
    date = datetime.date.today().isoformat()
    hf_cases = {(m["model"], c["id"]): c for m in hf["models"] for c in m["cases"]}
    wg_path = os.path.join(args.out, args.alt)
    alt = args.alt_label
    wg = json.load(open(wg_path)) if os.path.exists(wg_path) else None
    wg_cases = {(m["model"], c["id"]): c for m in wg["models"] for c in m["cases"]} if wg else {}

    rows = []
    for m in bk["models"]:
        for c in m["cases"]:
            h = hf_cases.get((m["model"], c["id"]))
            wgc = wg_cases.get((m["model"], c["id"]))
            rows.append({
                "wgmma_tokens_per_s": wgc["tokens_per_s"] if wgc else None, "wgmma_pct_peak": wgc["pct_peak"] if wgc else None,
                "wgmma_p50_ms": wgc["p50_ms"] if wgc else None,
                "wgmma_speedup": (wgc["tokens_per_s"] / h["tokens_per_s"]) if (wgc and h) else None,
                "model": m["model"], "case": c["id"], "tokens": c["tokens"], "varlen": c["varlen"],
                "bertkit_tokens_per_s": c["tokens_per_s"], "bertkit_p50_ms": c["p50_ms"], "pct_peak": c["pct_peak"], "tflops": c["tflops"],
                "hf_tokens_per_s": h["tokens_per_s"] if h else None, "hf_p50_ms": h["p50_ms"] if h else None,
                "speedup": (c["tokens_per_s"] / h["tokens_per_s"]) if h else None,
            })

    title = (f"{bk['device']} (sm_{bk['compute_capability']}, {bk['multiprocessors']} SMs), dense fp16 peak {bk['peak_tflops']} TFLOPS "
             f"[{bk['peak_source']}]; bertkit {bk['precision']} vs transformers {hf.get('transformers', '?')} "
             f"{hf.get('dtype', '?')} attention={hf.get('attn_implementation', '?')} (torch {hf.get('torch', '?')}); {date}; commit {commit}")
    header = ["model", "case", "tokens", "bertkit tok/s", "% peak", "p50 ms", "HF tok/s", "HF p50 ms", "speedup"]
    if wg:
        header += [f"{alt} tok/s", f"{alt} % peak", f"{alt} p50 ms", f"{alt} speedup"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    fmt = lambda v, f: "–" if v is None else format(v, f)
    for r in rows:
        lines.append("| " + " | ".join([r["model"], r["case"], str(r["tokens"]), fmt(r["bertkit_tokens_per_s"], ",.0f"), fmt(r["pct_peak"], ".1f"),
                                         fmt(r["bertkit_p50_ms"], ".2f"), fmt(r["hf_tokens_per_s"], ",.0f"), fmt(r["hf_p50_ms"], ".2f"),
                                         fmt(r["speedup"], ".2f") + ("x" if r["speedup"] is not None else "")]
                                        + ([fmt(r["wgmma_tokens_per_s"], ",.0f"), fmt(r["wgmma_pct_peak"], ".1f"), fmt(r["wgmma_p50_ms"], ".2f"),
                                            fmt(r["wgmma_speedup"], ".2f") + ("x" if r["wgmma_speedup"] is not None else "")] if wg else [])) + " |")

    checks = []
    def check(name, ok, detail):
        checks.append({"check": name, "pass": bool(ok), "detail": detail})
    base = {r["case"]: r for r in rows if r["model"] == "bert-base"}
    b128 = base.get("128x128")
    varlen = [r for r in rows if r["model"] == "bert-base" and r["varlen"]]
    main_label = bk["models"][0].get("gemm_path", "bertkit") if bk["models"] else "bertkit"
    for label, pre in [(main_label, ""), (alt, "wgmma_")] if wg else [(main_label, "")]:
        if b128 and b128[pre + "pct_peak"] is not None:
            check(f"[{label}] BERT-base fp16 128x128 >= 50% of dense fp16 peak", b128[pre + "pct_peak"] >= 50, f"{b128[pre + 'pct_peak']:.1f}%")
            check(f"[{label}] BERT-base fp16 128x128 >= 1.3x transformers fp16+SDPA", (b128[pre + "speedup"] or 0) >= 1.3,
                  fmt(b128[pre + "speedup"], ".2f") + "x")
        if varlen:
            v = max(varlen, key=lambda r: r["tokens"])
            check(f"[{label}] BERT-base variable-length batch ({v['case']}) >= 1.7x transformers", (v[pre + "speedup"] or 0) >= 1.7,
                  fmt(v[pre + "speedup"], ".2f") + "x")
    if args.wgmma != "skip":
        check("Hopper wgmma GEMM: self-check and kernel tests (BERTKIT_CUDA_WGMMA=1)", args.wgmma == "pass", args.wgmma)
    for m in bk["models"] + (wg["models"] if wg else []):
        p = m.get("parity", {})
        if p.get("ran"):
            tc = p.get("token_cosine", p["cosine"])
            bar = 0.99999 if bk["precision"] == "float16" else 0.9999 if bk["precision"] == "bfloat16" else 0.999999
            check(f"{m['model']} [{m.get('gemm_path', '?')}] {bk['precision']} hidden states vs float32 CPU: worst token cosine >= {bar}",
                  tc >= bar, f"worst token cosine {tc:.7f}, cosine {p['cosine']:.7f}, max abs {p['max_abs']:.3g}")
    if args.tests_status is not None:
        check("C++ kernel, fixture and model parity tests (test_cuda)", args.tests_status == 0, f"exit status {args.tests_status}")

    # float32 mode against transformers float32 with TF32 off, where both ran.
    fp32_lines = []
    f32_path, hf32_path = os.path.join(args.out, "bertkit-fp32.json"), os.path.join(args.out, "hf-fp32.json")
    if os.path.exists(f32_path) and os.path.exists(hf32_path):
        b32, h32 = json.load(open(f32_path)), json.load(open(hf32_path))
        h32c = {(m["model"], c["id"]): c for m in h32["models"] for c in m["cases"]}
        fp32_lines = [f"float32 mode (bertkit [{b32['models'][0].get('gemm_path', '?') if b32['models'] else '?'}]) vs transformers float32, TF32 {h32.get('tf32', '?')}:",
                      "", "| model | case | bertkit p50 ms | HF p50 ms | speedup |", "|---|---|---|---|---|"]
        for m in b32["models"]:
            for c in m["cases"]:
                h = h32c.get((m["model"], c["id"]))
                sp = h["p50_ms"] / c["p50_ms"] if h else None
                fp32_lines.append(f"| {m['model']} | {c['id']} | {c['p50_ms']:.2f} | {fmt(h['p50_ms'] if h else None, '.2f')} | {fmt(sp, '.2f')}x |")
                if h:
                    check(f"float32 {m['model']} {c['id']} >= transformers float32 (TF32 off)", sp >= 1.0, f"{sp:.2f}x")
        fp32_lines.append("")
    node_json = os.path.join(args.out, "node.json")
    if os.path.exists(node_json):
        nd = json.load(open(node_json))
        for r in nd.get("shapes", []):
            if r.get("ratio_last") is not None:
                check(f"Node forwardPacked {r['id']} lastHiddenState within 1.15x of the engine", r["ratio_last"] <= 1.15, f"{r['ratio_last']:.3f}x")
            if r.get("ratio_pooled") is not None:
                check(f"Node forwardPacked {r['id']} per-sequence output within 1.05x of the engine", r["ratio_pooled"] <= 1.05, f"{r['ratio_pooled']:.3f}x")
        b = nd.get("batcher")
        if b:
            check(f"batcher: {b['clients']} clients x {b['seq']} tokens >= 5x one forward per request", b["speedup"] >= 5,
                  f"{b['speedup']:.2f}x, p99 {b['batched']['p99_ms']:.1f} ms")
    node_md = os.path.join(args.out, "node.md")
    node_lines = open(node_md).read().splitlines() + [""] if os.path.exists(node_md) else []

    md = [f"### {title}", "", *lines, "", *fp32_lines, *node_lines, *[f"- {'PASS' if c['pass'] else 'FAIL'}: {c['check']} ({c['detail']})" for c in checks], ""]
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write("\n".join(md))
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"title": title, "date": date, "commit": commit, "device": bk["device"], "peak_tflops": bk["peak_tflops"],
                   "rows": rows, "checks": checks, "bertkit": bk, "transformers": hf}, f, indent=1)
    print("\n".join(md))
    return 0 if all(c["pass"] for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
