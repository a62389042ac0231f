#!/usr/bin/env bash
# The whole test suite (what `make test` and CI run). Assumes scripts/setup.sh has run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
cargo test --workspace --no-fail-fast "$@"
# the runtime-only build (no MLIR) runs a prebuilt CPU artifact
./scripts/runtime-only-check.sh
