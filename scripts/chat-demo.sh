#!/usr/bin/env bash
# The Llama 2-Chat stages after pretraining, on the CPU in minutes, against a known truth
# (scripts/chat_demo.py: a response is better the more often it says "you"):
#   1. the fortunes policy (scripts/demo.sh's run; trained here if absent),
#   2. K samples per prompt from it, turned into preference pairs by the truth,
#   3. a reward model trained on the pairs (held-out accuracy against the truth),
#   4. one round of rejection sampling with it (best-of-K vs the policy, by the truth),
#   5. PPO against the reward model from the same policy (reward and KL plotted), and the
#      PPO policy's samples on the held-out prompts, by the truth.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${LLC_TRAIN:-target/release/llc-train}
POLICY=${POLICY:-runs/demo-15m/checkpoints}
OUT=${OUT:-runs/chat-demo}
K=${K:-4}
RM_STEPS=${RM_STEPS:-150}
PPO_ITERATIONS=${PPO_ITERATIONS:-20}
KL_BOUND=${KL_BOUND:-8}
if [ ! -d "$POLICY" ]; then
  scripts/demo.sh
fi
rm -rf "$OUT"; mkdir -p "$OUT"
# 400 distinct prompts: 300 to make pairs from, 100 held out for rejection sampling.
python3 scripts/chat_demo.py prompts --out "$OUT/all_prompts.jsonl" --n 400 --seed 0
head -n 300 "$OUT/all_prompts.jsonl" > "$OUT/prompts.jsonl"
tail -n 100 "$OUT/all_prompts.jsonl" > "$OUT/eval_prompts.jsonl"
"$BIN" sample --checkpoint "$POLICY" --prompts "$OUT/prompts.jsonl" --num-samples 4 \
  --max-tokens 48 --temperature 1.0 --batch 16 --seed 1 --jsonl "$OUT/samples.jsonl"
python3 scripts/chat_demo.py pairs "$OUT/samples.jsonl" --out "$OUT/pairs.jsonl"
"$BIN" rm train --init-from "$POLICY" --pairs "$OUT/pairs.jsonl" --batch 8 --seq 96 \
  --steps "$RM_STEPS" --eval-every 50 --lr 3e-4 --warmup-steps 20 --total-steps "$RM_STEPS" \
  --backend "${BACKEND:-auto}" -o "$OUT/rm"
"$BIN" rejection-sample --policy "$POLICY" --rm "$OUT/rm/checkpoints" \
  --prompts "$OUT/eval_prompts.jsonl" -k "$K" --max-tokens 48 --seed 7 \
  -o "$OUT/best.jsonl" --all "$OUT/all.jsonl"
python3 scripts/chat_demo.py truth "$OUT/all.jsonl" --label "policy (every draw)"
python3 scripts/chat_demo.py truth "$OUT/best.jsonl" --field answer --label "best of $K by the reward model"
python3 scripts/chat_demo.py short "$OUT/prompts.jsonl" --out "$OUT/ppo_prompts.jsonl" --max-bytes 32
"$BIN" ppo --policy "$POLICY" --rm "$OUT/rm/checkpoints" --prompts "$OUT/ppo_prompts.jsonl" \
  --iterations "$PPO_ITERATIONS" --batch 64 --minibatch 16 --max-tokens 48 --lr 5e-5 \
  --save-every 10 --backend "${BACKEND:-auto}" -o "$OUT/ppo"
"$BIN" plot "$OUT/ppo/metrics.jsonl" --fields reward,kl,entropy -o "$OUT/ppo/reward_kl.png"
"$BIN" sample --checkpoint "$OUT/ppo/checkpoints" --prompts "$OUT/eval_prompts.jsonl" --num-samples "$K" \
  --max-tokens 48 --temperature 1.0 --top-p 1.0 --batch 16 --seed 7 --jsonl "$OUT/ppo_samples.jsonl"
python3 scripts/chat_demo.py truth "$OUT/all.jsonl" --label "policy (every draw)"
python3 scripts/chat_demo.py truth "$OUT/ppo_samples.jsonl" --label "PPO policy (every draw)"
python3 scripts/chat_demo.py ppo "$OUT/ppo/metrics.jsonl" --kl-bound "$KL_BOUND"
echo "SFT data for the next round: llc-train data sft $OUT/best.jsonl ... then train --sft --init-from $POLICY"
