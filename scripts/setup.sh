#!/usr/bin/env bash
# Installs what llc-train needs on a fresh Debian 12 machine (idempotent):
# MLIR/LLVM 22 (codegen), oneDNN (CPU GEMMs), OpenMPI (data-parallel runs: the `mpi` crate's bindgen reads mpi.h, mpirun launches the ranks), the fortunes corpus (demo data), ptxas from PyPI (PTX checks),
# torch + transformers in the project venv .venv (the outside oracles), and a Rust toolchain if none is present. Safe to run repeatedly; skips what is there.
set -euo pipefail

need_apt=()
pkgs=(llvm-22-dev libmlir-22-dev libpolly-22-dev libclang1-22 libclang-common-22-dev
      mlir-22-tools libzstd-dev zlib1g-dev libz3-dev libxml2-dev fortunes-min fortunes
      pkg-config build-essential python3-pip python3-venv curl ca-certificates mold libdnnl2
      libopenmpi-dev openmpi-bin)
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || need_apt+=("$p")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "setup: installing Rust (rustup, stable)"
    curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c clippy,rustfmt >/dev/null
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
fi

# ptxas (PTX assembler) from PyPI: the codegen tests assemble every generated kernel.
ptxas_path() {
  python3 - <<'PY' 2>/dev/null
import site, os
for d in site.getsitepackages() + [site.getusersitepackages()]:
    p = os.path.join(d, "nvidia", "cu13", "bin", "ptxas")
    if os.path.exists(p):
        print(p); break
PY
}
if [ -z "$(ptxas_path)" ]; then
  echo "setup: installing ptxas (pip nvidia-cuda-nvcc==13.0.88)"
  python3 -m pip install -q --disable-pip-version-check nvidia-cuda-nvcc==13.0.88 \
    || python3 -m pip install -q --break-system-packages nvidia-cuda-nvcc==13.0.88
fi

# The outside oracles (tests/integration/hf_interop.rs against transformers, optim_torch.rs against
# torch.optim): torch, transformers and numpy in the project venv .venv (git-ignored), which the tests
# use unless $LLC_PYTHON says otherwise; under CI=true those tests fail rather than skip without them.
# Cost on a fresh machine, once: the PyPI torch wheel for Linux x86-64 is the CUDA build (it runs on
# CPU too); with its nvidia-* and triton dependencies pip downloads about 3.5 GB and the venv takes
# about 5.6 GB of disk; 3-6 minutes at 20-50 MB/s. Later runs import them once and skip (a few seconds).
# For the 200 MB CPU-only build instead: PIP_INDEX_URL=https://download.pytorch.org/whl/cpu
# PIP_EXTRA_INDEX_URL=https://pypi.org/simple scripts/setup.sh (the tests need no CUDA from torch; not what CI runs).
# Pinned to the versions the tests were checked with. LLC_SETUP_ORACLES=0 skips this (make run does).
oracle_pkgs=(torch==2.15.0 transformers==5.24.0 numpy==2.4.6)
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
oracles() {
  "$venv/bin/python" -c 'import torch, transformers, numpy
print("torch", torch.__version__, "transformers", transformers.__version__)' 2>/dev/null
}
if [ "${LLC_SETUP_ORACLES:-1}" = 0 ]; then
  oracle_versions="not set up (LLC_SETUP_ORACLES=0)"
elif ! oracle_versions=$(oracles); then
  if [ ! -x "$venv/bin/python" ]; then
    echo "setup: creating the project venv $venv"
    python3 -m venv "$venv"
  fi
  echo "setup: installing ${oracle_pkgs[*]} into $venv (first time: ~3.5 GB download, several minutes)"
  t0=$(date +%s)
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --progress-bar off --no-cache-dir "${oracle_pkgs[@]}"
  echo "setup: oracle venv ready in $(( $(date +%s) - t0 )) s"
  oracle_versions=$(oracles)
fi
echo "setup: ok (ptxas: $(ptxas_path); oracles: $oracle_versions)"
