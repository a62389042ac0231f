#!/usr/bin/env bash
# Installs what llc-train needs on a fresh Debian 12 machine (idempotent):
# MLIR/LLVM 22 (codegen), oneDNN (CPU GEMMs), the fortunes corpus (demo data), ptxas from PyPI (PTX checks),
# and a Rust toolchain if none is present. Safe to run repeatedly; skips what is there.
set -euo pipefail

need_apt=()
pkgs=(llvm-22-dev libmlir-22-dev libpolly-22-dev libclang1-22 libclang-common-22-dev
      mlir-22-tools libzstd-dev zlib1g-dev libz3-dev libxml2-dev fortunes-min fortunes
      pkg-config build-essential python3-pip curl ca-certificates mold libdnnl2)
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
echo "setup: ok (ptxas: $(ptxas_path))"
