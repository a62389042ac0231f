#!/usr/bin/env bash
# A runtime-only llc-train (no MLIR: `--no-default-features`) trains from a CPU artifact
# that the full binary compiled, with the same losses as the full binary's own run.
# Run by scripts/test.sh after the test suite (it reuses the suite's debug binary).
set -euo pipefail
cd "$(dirname "$0")/.."
FULL=${FULL:-target/debug/llc-train}
RT_DIR=target/runtime-only
cargo build -q --no-default-features --target-dir "$RT_DIR"
RT="$RT_DIR/debug/llc-train"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
flags=(tiny --text /usr/share/games/fortunes/fortunes --doc-split delim:% --vocab 258 --batch 2 --seq 16 --steps 4 --eval-every 0
       --lr 3e-3 --warmup-steps 2 --total-steps 4)
"$FULL" train "${flags[@]}" --backend cpu -o "$tmp/full" > "$tmp/full.log" 2>&1
"$FULL" model tiny -o "$tmp/tiny.ir" > /dev/null 2>&1
if "$RT" compile "$tmp/tiny.ir" -o "$tmp/x" --target cpu > "$tmp/refused.log" 2>&1 \
   || ! grep -q "built without MLIR" "$tmp/refused.log"; then
  echo "runtime-only: expected compile to be refused for want of MLIR:"; cat "$tmp/refused.log"; exit 1
fi
"$RT" train "${flags[@]}" --backend cpu --artifact "$tmp/full/artifact" -o "$tmp/rt" > "$tmp/rt.log" 2>&1
losses() { sed -n 's/.*"loss":\([^,]*\).*/\1/p' "$1/metrics.jsonl"; }
if [ "$(losses "$tmp/full")" != "$(losses "$tmp/rt")" ] || [ -z "$(losses "$tmp/rt")" ]; then
  echo "runtime-only: losses differ from the full binary's"; paste <(losses "$tmp/full") <(losses "$tmp/rt"); exit 1
fi
echo "runtime-only binary ($(du -h "$RT" | cut -f1)) trained from a prebuilt CPU artifact with the full binary's losses"
echo "runtime-only: 1 passed, 0 failed"
