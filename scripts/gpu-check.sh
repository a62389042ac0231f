#!/usr/bin/env bash
# The whole GPU check in one device call (about 8 minutes at most), from the repository
# root with gpu-bundle/ (scripts/gpu-prepare.sh) carried along:
#
#   1. the CUDA backend against the CPU (interpreter and plan executor) on the tiny and
#      15M artifacts: every plan step, then 10 training steps (llc-train gpu-check);
#   2. a 200-step training run of the 15M config on the corpus on the GPU, and the
#      first steps of the same run on the CPU for comparison;
#   3. the benchmark of the 110M (16 x 1024) and TinyLlama-1.1B (4 x 2048) steps;
#   4. the PyTorch reference on the same shapes (eager and torch.compile);
#   5. the table of ratios (scripts/bench_table.py).
#
# Results go to $OUT (or ./gpu-out): JSON and logs per stage, summary.md, status.txt.
# Stages never stop the script; each gets a time limit inside the overall budget
# (BUDGET seconds, default 500), and later stages shrink or are skipped when time runs
# short, saying so. LLC_CUDA_* variables (see llc_runtime::cuda::CudaOptions) pass through.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

OUT=${OUT:-$PWD/gpu-out}
BUNDLE=${BUNDLE:-gpu-bundle}
BUDGET=${BUDGET:-500}
BIN="$BUNDLE/llc-train"
A="$BUNDLE/artifacts"
mkdir -p "$OUT"
START=$(date +%s)
: > "$OUT/status.txt"

remaining() { echo $((BUDGET - ($(date +%s) - START))); }

# run NAME MAX_SECONDS CMD...: run with a limit of min(MAX, remaining - 20) seconds,
# output to $OUT/NAME.log (and the terminal), exit status to status.txt.
run() {
  local name=$1 max=$2
  shift 2
  local left
  left=$(($(remaining) - 20))
  local limit=$((max < left ? max : left))
  if [ "$limit" -lt 15 ]; then
    echo "SKIPPED $name (out of time)" | tee -a "$OUT/status.txt"
    return 0
  fi
  echo
  echo "== $name (limit ${limit}s, $(remaining)s of budget left): $*"
  local t0
  t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$OUT/$name.log"
  local rc=${PIPESTATUS[0]}
  echo "$name rc=$rc ${limit}s-limit $(($(date +%s) - t0))s" | tee -a "$OUT/status.txt"
  return 0
}

if [ ! -x "$BIN" ]; then
  echo "gpu-check: $BIN is missing: run scripts/gpu-prepare.sh here and carry gpu-bundle" | tee -a "$OUT/status.txt"
  exit 1
fi

# CUDA libraries: the driver's libcuda is in the loader cache; cuBLAS/cuBLASLt are found
# in the toolkit or, failing that, in PyTorch's pip wheels.
pydirs=$(python3 - <<'PY' 2>/dev/null
import os, site, sys
seen = []
for d in site.getsitepackages() + [site.getusersitepackages()] + sys.path:
    for sub in ("nvidia/cu13/lib", "nvidia/cublas/lib"):
        p = os.path.join(d, sub)
        if os.path.isdir(p) and p not in seen:
            seen.append(p)
print(":".join(seen))
PY
)
export LD_LIBRARY_PATH="/usr/local/cuda/lib64:/usr/local/cuda/targets/x86_64-linux/lib${pydirs:+:$pydirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  cat "$BUNDLE/MANIFEST.txt" 2>/dev/null
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" 2>&1
  env | grep -E '^LLC_CUDA_' || true
} | tee "$OUT/env.txt"

# 1. CUDA backend vs CPU.
run check-tiny 90 "$BIN" gpu-check --artifact "$A/tiny" --steps 10 --json "$OUT/check-tiny.json"
run check-15m 150 "$BIN" gpu-check --artifact "$A/15m" --steps 10 --json "$OUT/check-15m.json"

# 2. 200 training steps of the 15M config on the corpus, on the GPU; the same run's first
#    steps on the CPU (same seed, same data order) for the loss comparison. The model and
#    optimizer flags are those the 15m-train artifact was compiled with (gpu-prepare.sh).
TRAIN_FLAGS=(llama2-15m --vocab 258 --batch 16 --seq 256 --text "$BUNDLE/data/corpus.txt"
  --seed 0 --lr 1e-3 --warmup-steps 20 --total-steps 200)
run train-cuda 120 "$BIN" train "${TRAIN_FLAGS[@]}" --backend cuda --artifact "$A/15m-train" \
  --steps 200 --out "$OUT/train-cuda"
run train-cpu 60 "$BIN" train "${TRAIN_FLAGS[@]}" --backend cpu --steps 10 --out "$OUT/train-cpu"

# 3. Our benchmark (f32; then TF32 GEMMs when there is time).
run bench-110m 90 "$BIN" bench gpu --artifact "$A/110m" --steps 10 --warmup 2 --json "$OUT/bench-110m.json"
run bench-tinyllama 120 "$BIN" bench gpu --artifact "$A/tinyllama" --steps 5 --warmup 2 --json "$OUT/bench-tinyllama.json"

# A benchmark that failed (out of memory, say) still gets a row, with its reason.
for name in 110m tinyllama; do
  if [ ! -s "$OUT/bench-$name.json" ]; then
    why=$(grep -v '^\s*$' "$OUT/bench-$name.log" 2>/dev/null | tail -n 1)
    python3 -c 'import json,sys; print(json.dumps({"artifact": sys.argv[1], "error": sys.argv[2] or "no result"}))' \
      "$A/$name" "$why" > "$OUT/bench-$name.json"
  fi
done

# 4. PyTorch on the same shapes; it skips the runs that would start past its deadline.
left=$(($(remaining) - 60))
run torch 330 python3 scripts/torch_reference.py --steps 10 --warmup 3 \
  --deadline "$((left > 30 ? left - 30 : 1))" --json "$OUT/torch.json"

if [ "$(remaining)" -gt 100 ]; then
  LLC_CUDA_TF32=1 run bench-110m-tf32 60 "$BIN" bench gpu --artifact "$A/110m" --steps 10 --warmup 2 \
    --json "$OUT/bench-110m-tf32.json"
fi

# 4b. Mixed precision, when there is time: the bf16 step against the CPU's bf16
#     interpreter (expect bf16 rounding differences: tests/integration/bf16.rs), and the
#     bf16 benchmarks (MFU against the device's bf16 peak).
if [ "$(remaining)" -gt 100 ]; then
  run check-tiny-bf16 60 "$BIN" gpu-check --artifact "$A/tiny-bf16" --steps 10 --json "$OUT/check-tiny-bf16.json"
  run bench-110m-bf16 60 "$BIN" bench gpu --artifact "$A/110m-bf16" --steps 10 --warmup 2 --json "$OUT/bench-110m-bf16.json"
  run bench-tinyllama-bf16 90 "$BIN" bench gpu --artifact "$A/tinyllama-bf16" --steps 5 --warmup 2 --json "$OUT/bench-tinyllama-bf16.json"
fi

# 5. The table.
ours=$(ls "$OUT"/bench-*.json 2>/dev/null)
torchres=$(ls "$OUT"/torch.json 2>/dev/null)
checks=$(ls "$OUT"/check-*.json 2>/dev/null)
trains=$(ls "$OUT"/train-*/metrics.jsonl 2>/dev/null)
# shellcheck disable=SC2086
python3 scripts/bench_table.py --ours $ours --torch $torchres \
  --checks $checks --train $trains -o "$OUT/summary.md" > /dev/null 2> "$OUT/table.log"
echo
echo "== status"
cat "$OUT/status.txt"
echo
cat "$OUT/summary.md" 2>/dev/null || cat "$OUT/table.log"
echo "gpu-check: $(($(date +%s) - START)) s; results in $OUT"
