#!/usr/bin/env python3
"""PyTorch reference for llc-train's benchmark: a plain Llama 2 training step with the
same shapes and optimizer as the compiled one, timed the same way.

Model: token embedding, L pre-norm decoder layers (RMSNorm eps 1e-5, rotary embeddings
theta 10000, grouped-query attention through scaled_dot_product_attention with a causal
mask, SwiGLU feed-forward), final RMSNorm, LM head (tied to the embedding for the
llama2.c-style 110M config, as llc-train's preset is), mean cross-entropy.
Step: bf16 autocast forward and backward (fp32 master weights; `--precision f32` for plain
f32, as the CPU benchmark compares), global gradient-norm
clipping at 1.0, fused AdamW (beta 0.9/0.95, eps 1e-5, weight decay 0.1 on matrices only),
warmup + cosine learning rate. Modes: eager, and torch.compile of the model.

Timing: `--warmup` untimed steps, then `--steps` steps queued back to back on two
pre-made random batches with one synchronize at the end; ms/step is wall-clock over those
steps (CUDA events give the GPU span too). MFU uses llc-train's formula (see
llc_runtime::cuda::flops): (6*N*tokens + 12*L*d*T*tokens) / step time / 989e12, N = params
in matmuls (an untied embedding table excluded).

Prints one JSON object ({"results": [...]}) and writes it to --json when given.
"""

import argparse
import json
import math
import sys
import time

H100_BF16_DENSE_PEAK = 989e12

# name: (dim, layers, heads, kv_heads, ffn, vocab, tied, batch, seq); the batch shapes
# are those of the issue (110M: 16 x 1024, TinyLlama: 4 x 2048).
CONFIGS = {
    "110m": (768, 12, 12, 12, 2048, 32000, True, 16, 1024),
    "tinyllama": (2048, 22, 32, 4, 5632, 32000, False, 4, 2048),
    "15m": (288, 6, 6, 6, 768, 32000, True, 8, 256),
    # For trying the script on a CPU: a few layers, a small vocabulary.
    "tiny": (64, 2, 4, 2, 172, 256, False, 2, 16),
}


def flops_per_step(cfg):
    """llc-train's model FLOPs per step (see the module docstring)."""
    dim, layers, heads, kv, ffn, vocab, tied, batch, seq = cfg
    hd = dim // heads
    per_layer = dim * heads * hd + 2 * dim * kv * hd + heads * hd * dim + 3 * dim * ffn + 2 * dim
    params = layers * per_layer + dim + vocab * dim * (1 if tied else 2)
    matmul = params if tied else params - vocab * dim
    tokens = batch * seq
    return params, matmul, 6.0 * matmul * tokens + 12.0 * layers * dim * seq * tokens


def build(torch, cfg, device):
    nn = torch.nn
    F = torch.nn.functional
    dim, layers, heads, kv, ffn, vocab, tied, batch, seq = cfg
    hd = dim // heads

    class RMSNorm(nn.Module):
        def __init__(self, d, eps=1e-5):
            super().__init__()
            self.eps = eps
            self.weight = nn.Parameter(torch.ones(d))

        def forward(self, x):
            xf = x.float()
            y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
            return y.type_as(x) * self.weight

    def rope_tables():
        inv = 1.0 / (10000.0 ** (torch.arange(0, hd, 2, device=device).float() / hd))
        t = torch.arange(seq, device=device).float()
        f = torch.outer(t, inv)  # [seq, hd/2]
        return f.cos(), f.sin()

    def rope(x, cos, sin):
        # x: [b, h, s, hd]; rotate interleaved pairs (x0, x1) as Meta's Llama code does.
        x0, x1 = x.float()[..., 0::2], x.float()[..., 1::2]
        y0 = x0 * cos - x1 * sin
        y1 = x0 * sin + x1 * cos
        return torch.stack((y0, y1), dim=-1).flatten(-2).type_as(x)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.attention_norm = RMSNorm(dim)
            self.wq = nn.Linear(dim, heads * hd, bias=False)
            self.wk = nn.Linear(dim, kv * hd, bias=False)
            self.wv = nn.Linear(dim, kv * hd, bias=False)
            self.wo = nn.Linear(heads * hd, dim, bias=False)
            self.ffn_norm = RMSNorm(dim)
            self.w1 = nn.Linear(dim, ffn, bias=False)
            self.w2 = nn.Linear(ffn, dim, bias=False)
            self.w3 = nn.Linear(dim, ffn, bias=False)

        def forward(self, x, cos, sin):
            b, s, _ = x.shape
            h = self.attention_norm(x)
            q = self.wq(h).view(b, s, heads, hd).transpose(1, 2)
            k = self.wk(h).view(b, s, kv, hd).transpose(1, 2)
            v = self.wv(h).view(b, s, kv, hd).transpose(1, 2)
            q, k = rope(q, cos, sin), rope(k, cos, sin)
            if kv != heads:
                try:
                    a = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
                except TypeError:  # PyTorch before 2.5
                    rep = heads // kv
                    a = F.scaled_dot_product_attention(
                        q, k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1), is_causal=True
                    )
            else:
                a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.wo(a.transpose(1, 2).reshape(b, s, heads * hd))
            h = self.ffn_norm(x)
            return x + self.w2(F.silu(self.w1(h)) * self.w3(h))

    class Llama(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok_embeddings = nn.Embedding(vocab, dim)
            self.layers = nn.ModuleList(Block() for _ in range(layers))
            self.norm = RMSNorm(dim)
            self.output = nn.Linear(dim, vocab, bias=False)
            if tied:
                self.output.weight = self.tok_embeddings.weight
            cos, sin = rope_tables()
            self.register_buffer("cos", cos, persistent=False)
            self.register_buffer("sin", sin, persistent=False)
            for name, p in self.named_parameters():
                if p.dim() >= 2:
                    std = 0.02
                    if name.endswith("wo.weight") or name.endswith("w2.weight"):
                        std = 0.02 / math.sqrt(2 * layers)
                    torch.nn.init.normal_(p, 0.0, std)

        def forward(self, tokens, targets):
            x = self.tok_embeddings(tokens)
            for layer in self.layers:
                x = layer(x, self.cos, self.sin)
            logits = self.output(self.norm(x))
            return F.cross_entropy(logits.float().view(-1, vocab), targets.view(-1))

    return Llama().to(device)


def run_one(torch, name, mode, args, device):
    cfg = CONFIGS[name]
    dim, layers, heads, kv, ffn, vocab, tied, batch, seq = cfg
    torch.manual_seed(0)
    model = build(torch, cfg, device)
    params_total = sum(p.numel() for p in model.parameters())
    _, params_matmul, flops = flops_per_step(cfg)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    cuda = device.type == "cuda"
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=3e-4,
        betas=(0.9, 0.95),
        eps=1e-5,
        fused=cuda,
    )
    warmup, total = 2000, 500000

    def lr_at(step):
        if step < warmup:
            return (step + 1) / warmup
        p = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    fwd = torch.compile(model) if mode == "compile" else model
    batches = [
        (
            torch.randint(0, vocab, (batch, seq), device=device),
            torch.randint(0, vocab, (batch, seq), device=device),
        )
        for _ in range(2)
    ]
    amp_dtype = torch.bfloat16

    import contextlib

    def precision_ctx():
        if args.precision == "f32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=amp_dtype)

    def step(i):
        tokens, targets = batches[i % 2]
        with precision_ctx():
            loss = fwd(tokens, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        return loss

    def sync():
        if cuda:
            torch.cuda.synchronize()

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    first = step(0).item()
    first_step_s = time.perf_counter() - t0
    for i in range(1, max(1, args.warmup)):
        step(i)
    sync()
    if cuda:
        e0 = torch.cuda.Event(enable_timing=True)
        e1 = torch.cuda.Event(enable_timing=True)
        e0.record()
    t = time.perf_counter()
    loss = None
    for i in range(args.steps):
        loss = step(i)
    if cuda:
        e1.record()
    sync()
    wall = time.perf_counter() - t
    n = max(1, args.steps)
    ms = wall * 1e3 / n
    gpu_ms = e0.elapsed_time(e1) / n if cuda else ms
    secs = ms / 1e3
    return {
        "config": name,
        "mode": mode,
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "torch": torch.__version__,
        "precision": "f32" if args.precision == "f32" else "bf16 autocast, fp32 master weights",
        "params": params_total,
        "params_matmul": params_matmul,
        "layers": layers,
        "d_model": dim,
        "batch": batch,
        "seq": seq,
        "tokens_per_step": batch * seq,
        "steps": args.steps,
        "warmup": max(1, args.warmup),
        "ms_per_step": ms,
        "gpu_ms_per_step": gpu_ms,
        "tokens_per_s": batch * seq / secs if secs > 0 else 0.0,
        "flops_per_step": flops,
        "tflops": flops / secs / 1e12 if secs > 0 else 0.0,
        "mfu": flops / secs / H100_BF16_DENSE_PEAK if secs > 0 else 0.0,
        "peak_gpu_mem": torch.cuda.max_memory_allocated() if cuda else 0,
        "peak_gpu_mem_reserved": torch.cuda.max_memory_reserved() if cuda else 0,
        "first_step_seconds": first_step_s,
        "loss_first": first,
        "loss_last": loss.item() if loss is not None else first,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", action="append", choices=sorted(CONFIGS) + ["custom"], help="repeatable; default 110m and tinyllama")
    ap.add_argument("--mode", action="append", choices=["eager", "compile"], help="repeatable; default both")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--deadline", type=float, default=0.0, help="skip runs that would start after this many seconds")
    ap.add_argument("--precision", choices=["bf16", "f32"], default="bf16", help="bf16 autocast (default) or plain f32")
    ap.add_argument(
        "--custom",
        help="a config as dim,layers,heads,kv_heads,ffn,vocab,tied(0/1),batch,seq (runs as config 'custom')",
    )
    ap.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: its default)")
    args = ap.parse_args(argv)
    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.custom:
        v = [int(x) for x in args.custom.split(",")]
        if len(v) != 9:
            print("torch_reference: --custom needs 9 comma-separated integers", file=sys.stderr)
            return 2
        v[6] = bool(v[6])
        CONFIGS["custom"] = tuple(v)
        args.config = ["custom"]

    if args.device == "cuda" and not torch.cuda.is_available():
        print("torch_reference: no CUDA device visible to PyTorch", file=sys.stderr)
        return 2
    device = torch.device(args.device)
    start = time.perf_counter()
    out = {"results": [], "skipped": [], "errors": []}
    for name in args.config or ["110m", "tinyllama"]:
        for mode in args.mode or ["eager", "compile"]:
            if args.deadline and time.perf_counter() - start > args.deadline:
                out["skipped"].append({"config": name, "mode": mode, "why": "deadline"})
                continue
            try:
                r = run_one(torch, name, mode, args, device)
                out["results"].append(r)
                print(
                    f"torch {name} {mode}: {r['ms_per_step']:.2f} ms/step, {r['tokens_per_s']:.0f} tok/s, "
                    f"MFU {100 * r['mfu']:.1f}%, peak {r['peak_gpu_mem'] / 2**30:.2f} GiB",
                    file=sys.stderr,
                )
            except Exception as e:  # report and go on to the next run
                out["errors"].append({"config": name, "mode": mode, "error": f"{type(e).__name__}: {e}"})
                print(f"torch {name} {mode}: FAILED {type(e).__name__}: {e}", file=sys.stderr)
            finally:
                if device.type == "cuda":
                    torch.cuda.empty_cache()
    text = json.dumps(out, indent=2)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    print(text)
    return 0 if out["results"] else 1


if __name__ == "__main__":
    sys.exit(main())
