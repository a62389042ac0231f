#!/usr/bin/env python3
"""The optimizer trajectory with PyTorch's own pieces, for the integration test
`optim_torch` (tests/integration/optim_torch.rs): torch.optim.AdamW with a decay and a
no-decay parameter group, torch.nn.utils.clip_grad_norm_ and
torch.optim.lr_scheduler.LambdaLR, all in float64.

Input (--inp, JSON, written by the test):
  {"lr", "beta1", "beta2", "eps", "weight_decay", "clip_norm", "warmup_steps",
   "total_steps", "min_lr_ratio",
   "params": [{"name", "shape", "data"}...],        initial values, flat row-major
   "grads": [[flat gradient of each param]...]}     one list per step

Output (--out, JSON):
  {"lr": [lr used by each step], "grad_norm": [norm before clipping, each step],
   "params": [[flat value of each param after the step]...],
   "exp_avg": [...], "exp_avg_sq": [...]}           AdamW's moments after the last step

Schedule convention. llc-train numbers the step being taken from 1 (t = completed steps
+ 1; passes/src/optimizer/schedule.rs): lr(t) = peak * t / W for t <= W, then cosine from
peak at t = W to min_lr_ratio * peak at t = T. LambdaLR calls its lambda with the number
of scheduler.step() calls so far (0 for the first optimizer step), so the lambda here is
lambda(e) = factor(e + 1). (The common torch warmup lambda e / W would take a first step
at lr 0 and reach the peak one step later than llc-train.)
"""
import argparse
import json
import math

import torch


def factor(t, warmup, total, min_ratio):
    """lr(t) / peak for the 1-based step t, written out independently of the Rust code."""
    if warmup > 0 and t <= warmup:
        return t / warmup
    progress = min(max((t - warmup) / (total - warmup), 0.0), 1.0)
    return min_ratio + 0.5 * (1.0 - min_ratio) * (1.0 + math.cos(math.pi * progress))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inp", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    with open(a.inp) as f:
        cfg = json.load(f)

    torch.set_default_dtype(torch.float64)
    params = [
        torch.nn.Parameter(torch.tensor(p["data"], dtype=torch.float64).reshape(p["shape"]))
        for p in cfg["params"]
    ]
    # llc-train's default rule: parameters of rank >= 2 decay, the others don't.
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": cfg["weight_decay"]},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=cfg["lr"],
        betas=(cfg["beta1"], cfg["beta2"]),
        eps=cfg["eps"],
        foreach=False,
    )
    w, total, mr = cfg["warmup_steps"], cfg["total_steps"], cfg["min_lr_ratio"]
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: factor(e + 1, w, total, mr))

    out = {"lr": [], "grad_norm": [], "params": []}
    for grads in cfg["grads"]:
        for p, g in zip(params, grads):
            p.grad = torch.tensor(g, dtype=torch.float64).reshape(p.shape)
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm=cfg["clip_norm"])
        out["grad_norm"].append(float(norm))
        out["lr"].append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
        out["params"].append([p.detach().reshape(-1).tolist() for p in params])
    out["exp_avg"] = [opt.state[p]["exp_avg"].reshape(-1).tolist() for p in params]
    out["exp_avg_sq"] = [opt.state[p]["exp_avg_sq"].reshape(-1).tolist() for p in params]
    with open(a.out, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
