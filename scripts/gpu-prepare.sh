#!/usr/bin/env bash
# Builds gpu-bundle/: everything scripts/gpu-check.sh needs on the GPU machine, which has
# no Rust toolchain and receives at most 64 MiB. Run here (no GPU needed):
#
#   scripts/gpu-prepare.sh            # then, on the device machine, with carry ["gpu-bundle"]:
#   bash scripts/gpu-check.sh         # results under $OUT
#
# The bundle holds the runtime-only llc-train (no MLIR, built with
# --no-default-features --features cuda), one compiled artifact per check/benchmark
# configuration (plan.json, kernels.ptx, kernels.ir, step.ir: no weights; parameters are
# initialised on the device machine from a seed) and the text of the training run (the
# corpus, read with the byte tokenizer: vocabulary 256). Every PTX module is assembled with ptxas here into kernels.cubin, so a PTX error
# shows up now rather than in the device call and the device loads kernels without JIT
# (it falls back to the PTX if the cubin does not load).
#
# Environment: BUNDLE (gpu-bundle), TARGET (sm_90), LIMIT_MIB (48), CORPUS (the fortunes
# files of Debian's fortunes-min, what scripts/setup.sh installs), PREFLIGHT=0 to skip
# running the runtime-only binary here. The training run's flags are in TRAIN_FLAGS below
# and must match scripts/gpu-check.sh's.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"

BUNDLE=${BUNDLE:-gpu-bundle}
TARGET=${TARGET:-sm_90}
LIMIT_MIB=${LIMIT_MIB:-48}
VOCAB=258
PREFLIGHT=${PREFLIGHT:-1}
if [ -z "${CORPUS:-}" ]; then
  CORPUS=""
  for f in /usr/share/games/fortunes/*; do
    case "$f" in *.dat | *.u8) ;; *) [ -f "$f" ] && CORPUS="$CORPUS $f" ;; esac
  done
fi
[ -n "$CORPUS" ] || { echo "gpu-prepare: no corpus (install fortunes-min or set CORPUS)" >&2; exit 1; }

step() { echo; echo "== $*"; }

step "full llc-train (MLIR codegen) for compiling artifacts and preparing data"
cargo build --release --bin llc-train
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
cp target/release/llc-train "$tools/llc-train-full"
FULL="$tools/llc-train-full"

rm -rf "$BUNDLE"
mkdir -p "$BUNDLE/artifacts" "$BUNDLE/models" "$BUNDLE/data"

# name | preset | batch | seq | extra model flags | extra compile flags
# tiny, 15m: the GPU-vs-CPU checks (small batches: the CPU interpreter runs them too).
#   Their optimizer: peak lr 1e-2 with 4 warmup steps and the cosine floor at step 20, so
#   the check's 10 steps cross both schedule branches (steps 1-4 warmup, 5-10 cosine) and
#   its update comparison (p_after - p_initial) sees updates far above f32 rounding (the
#   default recipe, 2000 warmup steps at 3e-4, updates by ~1e-7 in 10 steps).
# 15m-train: the 200-step training run on the corpus (warmup and schedule sized to it).
# 110m, tinyllama: the benchmark shapes of the issue; *-bf16: the same in mixed
#   precision (bf16 GEMMs, f32 master weights: compile --precision bf16).
configs=(
  "tiny|tiny|2|16||--lr 1e-2 --warmup-steps 4 --total-steps 20"
  "15m|llama2-15m|2|64||--lr 1e-2 --warmup-steps 4 --total-steps 20"
  "15m-train|llama2-15m|16|256|--vocab $VOCAB|--lr 1e-3 --warmup-steps 20 --total-steps 200"
  "110m|llama2-110m|16|1024||"
  "tinyllama|tinyllama-1.1b|4|2048||"
  "tiny-bf16|tiny|2|16||--lr 1e-2 --warmup-steps 4 --total-steps 20 --precision bf16"
  "110m-bf16|llama2-110m|16|1024||--precision bf16"
  "tinyllama-bf16|tinyllama-1.1b|4|2048||--precision bf16"
)
for c in "${configs[@]}"; do
  IFS='|' read -r name preset batch seq mflags cflags <<<"$c"
  step "artifact $name: $preset, batch $batch x $seq, $TARGET"
  # shellcheck disable=SC2086
  "$FULL" model "$preset" --batch "$batch" --seq "$seq" $mflags -o "$BUNDLE/models/$name.ir"
  # shellcheck disable=SC2086
  "$FULL" compile "$BUNDLE/models/$name.ir" -o "$BUNDLE/artifacts/$name" --target "$TARGET" $cflags
  for f in plan.json kernels.ptx kernels.ir step.ir; do
    [ -s "$BUNDLE/artifacts/$name/$f" ] || { echo "gpu-prepare: $name has no $f" >&2; exit 1; }
  done
done

step "ptxas: every kernel module assembles for $TARGET (kernels.cubin: no JIT on the device)"
PTXAS=$(python3 - <<'PY'
import os, site
for d in site.getsitepackages() + [site.getusersitepackages()]:
    p = os.path.join(d, "nvidia", "cu13", "bin", "ptxas")
    if os.path.exists(p):
        print(p)
        break
PY
)
if [ -n "$PTXAS" ]; then
  for d in "$BUNDLE"/artifacts/*/; do
    "$PTXAS" -arch="$TARGET" "$d/kernels.ptx" -o "$d/kernels.cubin"
    echo "ok $d ($(du -h "$d/kernels.cubin" | cut -f1) cubin)"
  done
else
  echo "ptxas not found (scripts/setup.sh installs it); skipping the PTX check"
fi

step "training text: $CORPUS"
# shellcheck disable=SC2086
cat $CORPUS > "$BUNDLE/data/corpus.txt"

step "runtime-only llc-train (no MLIR): --no-default-features --features cuda"
cargo build --release --no-default-features --features cuda --bin llc-train
cp target/release/llc-train "$BUNDLE/llc-train"
strip "$BUNDLE/llc-train" 2>/dev/null || true
# Leave the full binary in place for whoever builds next.
cp "$FULL" target/release/llc-train

if [ "$PREFLIGHT" = 1 ]; then
  step "preflight: the runtime-only binary reads every artifact (no GPU here: expect a clear 'no GPU' error)"
  for d in "$BUNDLE"/artifacts/*/; do
    set +e
    out=$("$BUNDLE/llc-train" gpu-check --artifact "$d" 2>&1)
    rc=$?
    set -e
    echo "$out" | tail -n 2
    if [ $rc -ne 0 ] && ! echo "$out" | grep -q -E "no CUDA (driver|device)"; then
      echo "gpu-prepare: gpu-check on $d failed for a reason other than the missing GPU" >&2
      exit 1
    fi
  done
fi

size=$(du -sb "$BUNDLE" | cut -f1)
{
  echo "llc-train GPU bundle"
  echo "commit: $(git rev-parse HEAD)$(git diff --quiet || echo ' (with uncommitted changes)')"
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n)"
  echo "target: $TARGET, training run: byte tokenizer (vocab $VOCAB) on $(wc -c < "$BUNDLE/data/corpus.txt") bytes of text"
  echo "bytes: $size"
  (cd "$BUNDLE" && du -sh llc-train artifacts/* data models)
} > "$BUNDLE/MANIFEST.txt"
cat "$BUNDLE/MANIFEST.txt"
limit=$((LIMIT_MIB * 1024 * 1024))
if [ "$size" -ge "$limit" ]; then
  echo "gpu-prepare: the bundle is $size bytes, over the ${LIMIT_MIB} MiB budget (the device call carries at most 64 MiB)" >&2
  exit 1
fi
echo
echo "gpu-bundle ready ($((size / 1024 / 1024)) MiB). On the device machine: bash scripts/gpu-check.sh (carry: gpu-bundle)"
