#!/usr/bin/env python3
"""The PyTorch / Hugging Face transformers side of llc-train's interop checks.

Subcommands (all tensors exchanged as safetensors, token files as raw little-endian u32):

  make-model --out DIR [--vocab --hidden --layers --heads --kv-heads --ffn --max-pos --seed --tie]
             [--tokens FILE --batch B --seq T --grads-out FILE]
      A random LlamaForCausalLM saved with save_pretrained (safetensors). Norm gains are
      perturbed away from 1 so a wrong gain gradient cannot hide. With --grads-out, also
      reloads DIR and runs `grad` on it (one Python start instead of two).
  logits --model DIR --tokens FILE --batch B --seq T --out FILE
      Loads DIR with LlamaForCausalLM.from_pretrained and writes `logits` [B, T, V] for the
      B*T tokens in FILE.
  rewards --model DIR --tokens FILE --batch B --seq T --out FILE
      Loads DIR with LlamaForSequenceClassification.from_pretrained (a reward model, one
      label) and writes `rewards` [B]: the score at each row's last non-padding token
      (the config's pad_token_id pads the rows on the right), as transformers reads it.
  grad --model DIR --tokens FILE --batch B --seq T --out FILE
      Loads DIR and writes `loss` (0-d) and every parameter's gradient (HF names) for the
      llm.c-style batch in FILE: B*(T+1) tokens, row b's first T are the inputs and its last
      T the targets. The loss is the mean cross-entropy over the B*T targets, computed from
      the logits directly (HF's `labels=` shifts inside the model and would drop the last
      target of each row).

Used by tests/integration/hf_interop.rs; runs on the CPU in float32.
"""

import argparse
import os
import sys

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification


def read_tokens(path, count):
    ids = np.fromfile(path, dtype="<u4")
    if ids.size != count:
        sys.exit(f"{path}: holds {ids.size} tokens, expected {count}")
    return torch.from_numpy(ids.astype(np.int64))


def load(path):
    model = LlamaForCausalLM.from_pretrained(path, dtype=torch.float32)
    model.eval()
    return model


def make_model(a):
    torch.manual_seed(a.seed)
    config = LlamaConfig(
        vocab_size=a.vocab,
        hidden_size=a.hidden,
        intermediate_size=a.ffn,
        num_hidden_layers=a.layers,
        num_attention_heads=a.heads,
        num_key_value_heads=a.kv_heads,
        max_position_embeddings=a.max_pos,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        tie_word_embeddings=a.tie,
    )
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            else:
                p.copy_(a.std * torch.randn_like(p))
    model.save_pretrained(a.out, safe_serialization=True)
    if a.grads_out:
        a.model, a.out = a.out, a.grads_out
        grad(a)


def logits(a):
    model = load(a.model)
    tokens = read_tokens(a.tokens, a.batch * a.seq).view(a.batch, a.seq)
    with torch.no_grad():
        out = model(input_ids=tokens).logits.float().contiguous()
    save_file({"logits": out}, a.out)


def rewards(a):
    model = LlamaForSequenceClassification.from_pretrained(a.model, dtype=torch.float32)
    model.eval()
    if model.config.num_labels != 1 or model.config.pad_token_id is None:
        sys.exit(f"{a.model}: expected one label and a pad_token_id, found {model.config}")
    tokens = read_tokens(a.tokens, a.batch * a.seq).view(a.batch, a.seq)
    with torch.no_grad():
        out = model(input_ids=tokens).logits.float().reshape(a.batch).contiguous()
    save_file({"rewards": out}, a.out)


def grad(a):
    model = load(a.model)
    rows = read_tokens(a.tokens, a.batch * (a.seq + 1)).view(a.batch, a.seq + 1)
    inputs, targets = rows[:, :-1], rows[:, 1:]
    out = model(input_ids=inputs).logits
    loss = F.cross_entropy(out.flatten(0, 1).float(), targets.flatten())
    loss.backward()
    tensors = {"loss": loss.detach().reshape(())}
    for name, p in model.named_parameters():
        tensors[name] = p.grad.detach().contiguous()
    save_file(tensors, a.out)
    print(f"loss = {loss.item():.6f}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    m = sub.add_parser("make-model")
    m.add_argument("--out", required=True)
    m.add_argument("--vocab", type=int, default=64)
    m.add_argument("--hidden", type=int, default=32)
    m.add_argument("--layers", type=int, default=2)
    m.add_argument("--heads", type=int, default=4)
    m.add_argument("--kv-heads", type=int, default=2)
    m.add_argument("--ffn", type=int, default=48)
    m.add_argument("--max-pos", type=int, default=64)
    m.add_argument("--std", type=float, default=0.08)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--tie", action="store_true")
    m.add_argument("--tokens")
    m.add_argument("--batch", type=int)
    m.add_argument("--seq", type=int)
    m.add_argument("--grads-out")
    m.set_defaults(fn=make_model)

    for name, fn in (("logits", logits), ("rewards", rewards), ("grad", grad)):
        s = sub.add_parser(name)
        s.add_argument("--model", required=True)
        s.add_argument("--tokens", required=True)
        s.add_argument("--batch", type=int, required=True)
        s.add_argument("--seq", type=int, required=True)
        s.add_argument("--out", required=True)
        s.set_defaults(fn=fn)

    a = p.parse_args()
    if a.cmd == "make-model" and a.grads_out and None in (a.tokens, a.batch, a.seq):
        p.error("--grads-out needs --tokens, --batch and --seq")
    torch.set_num_threads(2)
    a.fn(a)


if __name__ == "__main__":
    main()
