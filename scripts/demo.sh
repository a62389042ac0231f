#!/usr/bin/env bash
# The main job: train the ~15M Llama 2 config on Debian's fortunes corpus, byte-level,
# showing the loss fall; `--backend auto` compiles the step for the GPU when there is one,
# else for this CPU (BACKEND=interp runs the reference interpreter instead, for comparison;
# PRECISION=bf16 computes the GEMMs in bf16 with f32 master weights).
# Then plot the curves and sample from the trained model.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${LLC_TRAIN:-target/release/llc-train}
RUN=${RUN:-runs/demo-15m}
STEPS=${STEPS:-400}
rm -rf "$RUN"
"$BIN" train llama2-15m \
  --text /usr/share/games/fortunes --doc-split delim:% \
  --batch 16 --seq 64 --steps "$STEPS" --eval-every 50 --eval-batches 8 \
  --lr 2e-3 --warmup-steps 40 --total-steps "$STEPS" --save-every 100 \
  --backend "${BACKEND:-auto}" --precision "${PRECISION:-f32}" -o "$RUN"
"$BIN" plot "$RUN/metrics.jsonl" -o "$RUN/loss.png"
"$BIN" sample --checkpoint "$RUN/checkpoints" --prompt "A computer is" \
  --max-tokens 120 --temperature 0.8 --seed 1
