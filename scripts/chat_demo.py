#!/usr/bin/env python3
"""The synthetic preference of the chat demo (scripts/chat-demo.sh): a known function of
the text, so the reward model's accuracy and the policy's improvement can be checked
against the truth.

The truth: a response is better the more often it says "you" (case-insensitive, whole
word: "you", "your", "you're" count; "youth" does not), counted up to 3. The property
whose rate the demo reports is "says you at least once".

Subcommands:
  prompts --out FILE [--n N] [--words W] [--seed S]
      N prompts (JSONL {"prompt"}): the first W words of fortunes from
      /usr/share/games/fortunes, a fixed seeded choice.
  pairs SAMPLES --out FILE [--seed S]
      From `llc-train sample --jsonl` output (several completions per prompt), every pair
      of completions of the same prompt whose true scores differ, as preference pairs
      {"prompt", "chosen", "rejected", "rating"}: a gap of 2 or more is "significantly
      better", 1 is "better".
  truth FILE [--field F] [--label L]
      The mean true score of the completions in a JSONL file (field "completion", or F)
      and the rate of the property; prints one line, and JSON with --json.
  short PROMPTS --out FILE [--max-bytes B]
      The prompts of at most B bytes (PPO's graphs are as long as the longest prompt).
  ppo METRICS [--window W] [--kl-bound K]
      A PPO run's metrics.jsonl: the mean reward of its first and last W iterations and
      the largest KL to the reference (nats per response) against the bound K; exits 1
      when the bound is exceeded.
"""

import argparse
import glob
import json
import random
import re
import sys

WORD = re.compile(r"\byou(r|rs|'re|'ll|'d|'ve|rself)?\b", re.IGNORECASE)
CAP = 3


def true_score(text):
    return min(len(WORD.findall(text)), CAP)


def fortunes():
    docs = []
    for path in sorted(glob.glob("/usr/share/games/fortunes/*")):
        if path.endswith((".dat", ".u8")):
            continue
        try:
            text = open(path, encoding="utf-8", errors="replace").read()
        except (IsADirectoryError, PermissionError):
            continue
        docs += [d.strip() for d in text.split("\n%\n") if d.strip()]
    return docs


def prompts(a):
    rng = random.Random(a.seed)
    docs = [d for d in fortunes() if len(d.split()) > a.words and "\n" not in d[:60]]
    seen, out = set(), []
    for d in rng.sample(docs, len(docs)):
        p = " ".join(d.split()[: a.words]) + " "
        if p in seen or true_score(p) > 0:
            continue
        seen.add(p)
        out.append(p)
        if len(out) == a.n:
            break
    with open(a.out, "w") as f:
        for p in out:
            f.write(json.dumps({"prompt": p}) + "\n")
    print(f"{len(out)} prompts in {a.out}")


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def pairs(a):
    rng = random.Random(a.seed)
    by_prompt = {}
    for s in read_jsonl(a.samples):
        by_prompt.setdefault(s["prompt"], []).append(s["completion"])
    out = []
    for prompt, comps in by_prompt.items():
        scored = [(true_score(c), c) for c in dict.fromkeys(comps)]
        for i in range(len(scored)):
            for j in range(i + 1, len(scored)):
                (si, ci), (sj, cj) = scored[i], scored[j]
                if si == sj:
                    continue
                chosen, rejected = (ci, cj) if si > sj else (cj, ci)
                gap = abs(si - sj)
                rating = "significantly better" if gap >= 2 else "better"
                out.append({"prompt": prompt, "chosen": chosen, "rejected": rejected, "rating": rating})
    rng.shuffle(out)
    with open(a.out, "w") as f:
        for p in out:
            f.write(json.dumps(p) + "\n")
    print(f"{len(out)} pairs from {len(by_prompt)} prompts in {a.out}")


def truth(a):
    rows = read_jsonl(a.file)
    scores = [true_score(r[a.field]) for r in rows]
    mean = sum(scores) / max(len(scores), 1)
    rate = sum(1 for s in scores if s > 0) / max(len(scores), 1)
    if a.json:
        print(json.dumps({"label": a.label, "n": len(scores), "mean_true_score": mean, "says_you_rate": rate}))
    else:
        print(f"{a.label}: {len(scores)} responses, mean true score {mean:.3f}, says 'you' {100 * rate:.1f}%")


def short(a):
    rows = [r for r in read_jsonl(a.prompts) if len(r["prompt"].encode()) <= a.max_bytes]
    with open(a.out, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    print(f"{len(rows)} prompts of at most {a.max_bytes} bytes in {a.out}")


def ppo(a):
    rows = read_jsonl(a.metrics)
    if len(rows) < 2 * a.window:
        raise SystemExit(f"{a.metrics}: {len(rows)} iterations, fewer than twice --window {a.window}")
    mean = lambda xs: sum(xs) / len(xs)
    first = mean([r["reward"] for r in rows[: a.window]])
    last = mean([r["reward"] for r in rows[-a.window :]])
    kl = max(r["kl"] for r in rows)
    held = kl <= a.kl_bound
    print(
        f"PPO, {len(rows)} iterations: mean RM reward {first:+.3f} (first {a.window}) -> {last:+.3f} (last {a.window}); "
        f"KL to the reference at most {kl:.3f} nats per response (bound {a.kl_bound}: {'held' if held else 'EXCEEDED'})"
    )
    return 0 if held else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("prompts")
    s.add_argument("--out", required=True)
    s.add_argument("--n", type=int, default=200)
    s.add_argument("--words", type=int, default=2)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(fn=prompts)
    s = sub.add_parser("pairs")
    s.add_argument("samples")
    s.add_argument("--out", required=True)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(fn=pairs)
    s = sub.add_parser("truth")
    s.add_argument("file")
    s.add_argument("--field", default="completion")
    s.add_argument("--label", default="responses")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=truth)
    s = sub.add_parser("short")
    s.add_argument("prompts")
    s.add_argument("--out", required=True)
    s.add_argument("--max-bytes", type=int, default=32)
    s.set_defaults(fn=short)
    s = sub.add_parser("ppo")
    s.add_argument("metrics")
    s.add_argument("--window", type=int, default=5)
    s.add_argument("--kl-bound", type=float, default=3.0)
    s.set_defaults(fn=ppo)
    a = p.parse_args()
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
