#!/usr/bin/env python3
"""The benchmark table of llc-train against PyTorch, from the JSON files of one device run.

    bench_table.py --ours OURS.json... --torch TORCH.json [--checks CHECK.json...]
                   [--train METRICS.jsonl...] [--device NAME] [-o TABLE.md]

OURS.json: what `llc-train bench gpu --json` writes (one result object, a list of them, or
{"results": [...]}); TORCH.json: scripts/torch_reference.py's output. Rows are matched on
the model shape (layers, width, batch, sequence length). The ratio columns are
llc-train's ms/step over PyTorch's (below 1: llc-train is faster).
"""

import argparse
import datetime
import json
import sys


def load_results(path):
    with open(path) as f:
        data = json.load(f)
    if isinstance(data, dict) and "results" in data:
        return data["results"]
    if isinstance(data, list):
        return data
    return [data]


def key(r):
    return (r.get("layers"), r.get("d_model"), r.get("batch"), r.get("seq"))


def gib(b):
    return f"{b / 2**30:.2f}" if b else "-"


def fmt(v, spec):
    return format(v, spec) if isinstance(v, (int, float)) else "-"


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"


def table(ours, torch_results):
    by_key = {}
    for r in torch_results:
        by_key.setdefault(key(r), {})[r["mode"]] = r
    lines = [
        "| config | llc-train ms/step | torch eager ms/step | torch.compile ms/step | ratio vs eager | ratio vs compile | llc-train tok/s | torch.compile tok/s | llc-train MFU | torch.compile MFU | llc-train GiB | torch.compile GiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for o in ours:
        if "error" in o:
            lines.append(f"| {o.get('artifact', '?')} | failed: {o['error']} | | | | | | | | | | |")
            continue
        t = by_key.get(key(o), {})
        e, c = t.get("eager", {}), t.get("compile", {})
        name = c.get("config") or e.get("config") or o.get("artifact", "?")
        lines.append(
            "| {} ({}L d{} {}x{}) | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
                name,
                o.get("layers"),
                o.get("d_model"),
                o.get("batch"),
                o.get("seq"),
                fmt(o.get("ms_per_step"), ".1f"),
                fmt(e.get("ms_per_step"), ".1f"),
                fmt(c.get("ms_per_step"), ".1f"),
                ratio(o.get("ms_per_step"), e.get("ms_per_step")),
                ratio(o.get("ms_per_step"), c.get("ms_per_step")),
                fmt(o.get("tokens_per_s"), ".0f"),
                fmt(c.get("tokens_per_s"), ".0f"),
                fmt(100 * o["mfu"], ".1f") + "%" if "mfu" in o else "-",
                fmt(100 * c["mfu"], ".1f") + "%" if "mfu" in c else "-",
                gib(o.get("peak_gpu_mem")),
                gib(c.get("peak_gpu_mem")),
            )
        )
    return "\n".join(lines)


def checks_section(paths):
    out = ["", "## CUDA backend vs CPU", ""]
    for p in paths:
        with open(p) as f:
            r = json.load(f)
        verdict = "PASS" if r.get("passed") else "FAIL"
        steps = r.get("steps", [])
        worst_loss = max((s["loss_rel"] for s in steps), default=None)
        worst_gn = max((s["grad_norm_rel"] for s in steps), default=None)
        ops = r.get("ops") or {}
        out.append(
            f"- {r.get('artifact')}: **{verdict}**; {len(steps)} steps, worst loss rel "
            f"{fmt(worst_loss, '.2e')}, worst grad-norm rel {fmt(worst_gn, '.2e')}; "
            f"plan steps checked {ops.get('checked', '-')}, over tolerance {ops.get('failed', '-')}"
        )
        for st in r.get("states", []):
            w = {k: st.get(k) for k in ("worst_param", "worst_state", "worst_update")}
            parts = [f"{k[6:]} {v['rel']:.2e} (%{v['name']})" for k, v in w.items() if v]
            out.append(f"  - after step {st['after_step']}: " + ", ".join(parts))
        for f_ in r.get("failures", []):
            out.append(f"  - FAIL: {f_}")
    return "\n".join(out)


def train_section(paths):
    out = ["", "## Training runs (loss by step)", ""]
    for p in paths:
        rows = []
        with open(p) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError:
                        pass
        losses = [(r.get("step"), r.get("loss")) for r in rows if "loss" in r]
        if not losses:
            out.append(f"- {p}: no loss records")
            continue
        pick = [losses[0]] + losses[1:-1][:: max(1, len(losses) // 10)] + [losses[-1]]
        out.append(f"- {p}: " + ", ".join(f"{s}: {l:.4f}" for s, l in pick if l is not None))
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ours", nargs="*", default=[])
    ap.add_argument("--torch", nargs="*", default=[])
    ap.add_argument("--checks", nargs="*", default=[])
    ap.add_argument("--train", nargs="*", default=[])
    ap.add_argument("--device", default="")
    ap.add_argument("-o", "--output")
    args = ap.parse_args(argv)
    ours = [r for p in args.ours for r in load_results(p)]
    torch_results = [r for p in args.torch for r in load_results(p)]
    device = args.device or next((r.get("device") for r in ours + torch_results if r.get("device")), "?")
    parts = [
        f"# Benchmark {datetime.date.today().isoformat()} on {device}",
        "",
        "llc-train: f32 (FP32 GEMMs unless tf32 is noted), CUDA graph replay. PyTorch: bf16 autocast, "
        "SDPA attention, fused AdamW. Ratio = llc-train ms/step / PyTorch ms/step (below 1: llc-train faster). "
        "MFU = (6*N*tokens + 12*L*d*T*tokens) / step time / 989 TFLOP/s (H100 dense bf16 peak) for both.",
        "",
        table(ours, torch_results),
    ]
    notes = [f"- llc-train {o.get('artifact')}: tf32={o.get('tf32')}, graph={o.get('graph')}, "
             f"GEMMs cuBLASLt/cuBLAS {o.get('gemms_cublaslt')}/{o.get('gemms_cublas')}, "
             f"loss {fmt(o.get('loss_first'), '.4f')} -> {fmt(o.get('loss_last'), '.4f')}"
             for o in ours if "error" not in o]
    notes += [f"- torch {r['config']} {r['mode']}: first step {r['first_step_seconds']:.1f} s, "
              f"loss {r['loss_first']:.4f} -> {r['loss_last']:.4f}, torch {r['torch']}" for r in torch_results]
    if notes:
        parts += ["", *notes]
    if args.checks:
        parts.append(checks_section(args.checks))
    if args.train:
        parts.append(train_section(args.train))
    text = "\n".join(parts) + "\n"
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
