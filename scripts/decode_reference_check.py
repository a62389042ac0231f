#!/usr/bin/env python3
"""Checks scripts/decode_reference.c against Hugging Face transformers, and times it.

For each config below: a random LlamaForCausalLM (weights std --std, norm gains 1 + 0.2 N(0,1)
so a misplaced gain cannot hide) is saved with save_pretrained(safe_serialization=True) into a
temp dir; the C program greedy-decodes from a random prompt and its tokens must equal
transformers' `generate(do_sample=False)`. The logits each token was chosen from are compared
as well (max |C - HF|), and the smallest top-1/top-2 margin of HF's logits is reported, so a
divergence at a near-tie shows as such rather than as a bug (or as a pass it did not earn).

Then: bad checkpoints (missing tensor, wrong shape, BF16 dtype, bad prompt) must fail with a
message and a non-zero exit, and the demo shape (d=288, 6 layers, 6 heads, ffn 768, vocab 258,
ctx 256, untied) is timed with 1 and 2 threads; the tokens/s the C program prints are reported.

Run with the project's venv:  /work/main/.venv/bin/python scripts/decode_reference_check.py
Options: --cc CC, --keep DIR (keep the models and the binary), --speed-runs N, --no-speed.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from transformers import LlamaConfig, LlamaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "decode_reference.c")

DEMO = dict(hidden=288, layers=6, heads=6, kv_heads=6, ffn=768, vocab=258, ctx=256)

# name, shape, tied, rope theta, rms eps, prompt length, generated tokens, seed
CASES = [
    ("small GQA tied", dict(hidden=64, layers=2, heads=4, kv_heads=2, ffn=160, vocab=258, ctx=128), True, 10000.0, 1e-6, 8, 100, 1),
    ("small GQA untied", dict(hidden=64, layers=2, heads=4, kv_heads=2, ffn=160, vocab=258, ctx=128), False, 500000.0, 1e-5, 5, 110, 2),
    ("GQA 8 heads / 2 kv", dict(hidden=128, layers=3, heads=8, kv_heads=2, ffn=320, vocab=258, ctx=160), False, 10000.0, 1e-5, 12, 140, 3),
    ("demo shape untied", DEMO, False, 10000.0, 1e-5, 8, 200, 4),
    ("demo shape tied", DEMO, True, 10000.0, 1e-5, 1, 200, 5),
]


def make_model(out, shape, tied, theta, eps, seed, std):
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=shape["vocab"],
        hidden_size=shape["hidden"],
        intermediate_size=shape["ffn"],
        num_hidden_layers=shape["layers"],
        num_attention_heads=shape["heads"],
        num_key_value_heads=shape["kv_heads"],
        max_position_embeddings=shape["ctx"],
        rms_norm_eps=eps,
        rope_theta=theta,
        tie_word_embeddings=tied,
        initializer_range=std,
    )
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            else:
                p.copy_(std * torch.randn_like(p))
    model.eval()
    # no early stop: every run generates exactly the asked-for number of tokens
    model.generation_config.eos_token_id = None
    model.generation_config.bos_token_id = None
    model.generation_config.pad_token_id = 0
    model.save_pretrained(out, safe_serialization=True)
    return model


def hf_greedy(model, prompt, steps):
    ids = torch.tensor([prompt], dtype=torch.long)
    with torch.no_grad():
        out = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=steps,
            min_new_tokens=steps,
            do_sample=False,
            num_beams=1,
            output_logits=True,
            return_dict_in_generate=True,
        )
    tokens = out.sequences[0, len(prompt):].tolist()
    logits = torch.stack([l[0] for l in out.logits]).float().numpy()
    assert len(tokens) == steps, f"generate gave {len(tokens)} tokens, asked for {steps}"
    return tokens, logits


def run_c(binary, ckpt, prompt, steps, threads, logits_path=None):
    cmd = [binary, ckpt, "--prompt", ",".join(map(str, prompt)), "--steps", str(steps), "--threads", str(threads)]
    if logits_path:
        cmd += ["--logits", logits_path]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"decode_reference failed ({r.returncode}):\n{r.stderr}")
    lines = r.stdout.strip().splitlines()
    m_tok = re.fullmatch(r"tokens: ([0-9,]*)", lines[0])
    m_pre = re.fullmatch(r"prefill: ([0-9.]+) tokens/s", lines[1])
    m_dec = re.fullmatch(r"([0-9.]+) tokens/s", lines[-1])
    assert m_tok and m_pre and m_dec and len(lines) == 3, f"unexpected output:\n{r.stdout}"
    tokens = [int(t) for t in m_tok.group(1).split(",")]
    return tokens, float(m_pre.group(1)), float(m_dec.group(1))


def margin(row):
    top2 = np.sort(row)[-2:]
    return float(top2[1] - top2[0])


def check_case(binary, work, case, std):
    name, shape, tied, theta, eps, n_prompt, steps, seed = case
    ckpt = os.path.join(work, re.sub(r"[^a-z0-9]+", "-", name.lower()))
    model = make_model(ckpt, shape, tied, theta, eps, seed, std)
    rng = np.random.default_rng(seed)
    prompt = rng.integers(0, shape["vocab"], size=n_prompt).tolist()
    hf_tokens, hf_logits = hf_greedy(model, prompt, steps)
    logits_path = os.path.join(ckpt, "c_logits.f32")
    c_tokens, _, _ = run_c(binary, ckpt, prompt, steps, 2, logits_path)
    c_logits = np.fromfile(logits_path, dtype="<f4").reshape(steps, shape["vocab"])

    first_diff = next((i for i, (a, b) in enumerate(zip(hf_tokens, c_tokens)) if a != b), None)
    upto = steps if first_diff is None else first_diff + 1  # logits agree on the same prefix
    diff = float(np.max(np.abs(c_logits[:upto] - hf_logits[:upto])))
    scale = float(np.max(np.abs(hf_logits[:upto])))
    margins = [margin(r) for r in hf_logits[:upto]]
    desc = (f"{name}: d={shape['hidden']} L={shape['layers']} H={shape['heads']} KV={shape['kv_heads']} "
            f"ffn={shape['ffn']} V={shape['vocab']} ctx={shape['ctx']} tied={tied} theta={theta:g} eps={eps:g}; "
            f"prompt {n_prompt}, {steps} tokens ({len(set(hf_tokens))} distinct)")
    if first_diff is None:
        print(f"PASS {desc}\n     tokens equal; max |logit diff| {diff:.2e} (max |logit| {scale:.2f}); "
              f"smallest HF top-2 margin {min(margins):.2e} at step {int(np.argmin(margins))}")
        return True
    i = first_diff
    print(f"FAIL {desc}\n     first divergence at generated token {i}: HF {hf_tokens[i]}, C {c_tokens[i]}; "
          f"HF margin there {margins[i]:.2e} (HF logits {hf_logits[i, hf_tokens[i]]:.6f} vs "
          f"{hf_logits[i, c_tokens[i]]:.6f}; C logits {c_logits[i, hf_tokens[i]]:.6f} vs "
          f"{c_logits[i, c_tokens[i]]:.6f}); max |logit diff| up to there {diff:.2e}")
    return False


def expect_failure(binary, ckpt, args, pattern, what):
    r = subprocess.run([binary, ckpt] + args, capture_output=True, text=True)
    ok = r.returncode != 0 and re.search(pattern, r.stderr) is not None
    print(f"{'PASS' if ok else 'FAIL'} error case: {what}: exit {r.returncode}: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else '(no message)'}")
    return ok


def check_errors(binary, work, std):
    base = os.path.join(work, "err-base")
    make_model(base, dict(hidden=32, layers=1, heads=4, kv_heads=2, ffn=48, vocab=64, ctx=32), False, 10000.0, 1e-5, 9, std)
    tensors = load_file(os.path.join(base, "model.safetensors"))

    def variant(tag, edit):
        d = os.path.join(work, f"err-{tag}")
        shutil.copytree(base, d)
        t = dict(tensors)
        edit(t)
        save_file(t, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
        return d

    ok = True
    ok &= expect_failure(binary, variant("missing", lambda t: t.pop("model.layers.0.mlp.up_proj.weight")),
                         ["--prompt", "1", "--steps", "2"], r"missing tensor \"model.layers.0.mlp.up_proj.weight\"", "missing tensor")
    ok &= expect_failure(binary, variant("shape", lambda t: t.update({"model.layers.0.self_attn.k_proj.weight": torch.zeros(32, 32)})),
                         ["--prompt", "1", "--steps", "2"], r"has shape \[32, 32\], config.json implies \[16, 32\]", "wrong shape")
    ok &= expect_failure(binary, variant("bf16", lambda t: t.update({"model.norm.weight": t["model.norm.weight"].bfloat16()})),
                         ["--prompt", "1", "--steps", "2"], r"dtype BF16", "BF16 tensor")
    ok &= expect_failure(binary, variant("nohead", lambda t: t.pop("lm_head.weight")),
                         ["--prompt", "1", "--steps", "2"], r"lm_head.weight", "untied config without lm_head")
    ok &= expect_failure(binary, base, ["--prompt", "1,64", "--steps", "2"], r"outside the vocabulary", "token id out of range")
    ok &= expect_failure(binary, base, ["--prompt", "", "--steps", "2"], r"empty", "empty prompt")
    ok &= expect_failure(binary, base, ["--prompt", "1,2", "--steps", "31"], r"exceeds the context", "prompt + steps past the context")
    trunc = os.path.join(work, "err-trunc")
    shutil.copytree(base, trunc)
    with open(os.path.join(trunc, "model.safetensors"), "r+b") as f:
        f.truncate(4000)
    ok &= expect_failure(binary, trunc, ["--prompt", "1", "--steps", "2"], r"outside the file|runs past|data bytes", "truncated file")
    return ok


def speed(binary, work, runs, std):
    ckpt = os.path.join(work, "demo-speed")
    make_model(ckpt, DEMO, False, 10000.0, 1e-5, 11, std)
    prompt = np.random.default_rng(11).integers(0, DEMO["vocab"], size=16).tolist()
    steps = DEMO["ctx"] - len(prompt)
    print(f"speed: demo shape (d=288 L=6 H=6 KV=6 ffn=768 V=258 ctx=256, untied, f32), prompt 16, "
          f"{steps} generated tokens, {runs} runs per thread count; load average before: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    for threads in (1, 2):
        dec, pre = [], []
        for _ in range(runs):
            _, p, d = run_c(binary, ckpt, prompt, steps, threads)
            dec.append(d)
            pre.append(p)
        print(f"  threads={threads}: decode {statistics.median(dec):.0f} tokens/s median, {max(dec):.0f} best "
              f"(runs: {', '.join(f'{x:.0f}' for x in dec)}); prefill {statistics.median(pre):.0f} tokens/s median")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cc", default=os.environ.get("CC", "cc"))
    ap.add_argument("--keep", help="work in this directory and keep it")
    ap.add_argument("--std", type=float, default=0.1, help="weight init std (larger: wider argmax margins)")
    ap.add_argument("--speed-runs", type=int, default=5)
    ap.add_argument("--no-speed", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

    work = a.keep or tempfile.mkdtemp(prefix="decode_reference_")
    os.makedirs(work, exist_ok=True)
    try:
        binary = os.path.join(work, "decode_reference")
        cmd = [a.cc, "-O3", "-march=native", "-fopenmp", "-o", binary, SOURCE, "-lm"]
        print("compile:", " ".join(cmd))
        subprocess.run(cmd, check=True)
        ok = all([check_case(binary, work, c, a.std) for c in CASES])
        ok &= check_errors(binary, work, a.std)
        if not a.no_speed:
            speed(binary, work, a.speed_runs, a.std)
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("all checks passed" if ok else "SOME CHECKS FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
