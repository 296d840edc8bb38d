#!/usr/bin/env bash
# Installs the two anchors of the encoder benchmark, idempotently:
#   * PyTorch (Debian python3-torch, BLAS = whatever libblas.so.3 points to; we want
#     OpenBLAS, so libopenblas-dev is installed too) + NumPy, for /usr/bin/python3;
#   * ONNX Runtime for Node (onnxruntime-node, pinned; its npm package ships the
#     linux-x64 CPU libonnxruntime.so, so install scripts are skipped).
# Then checks that both load and prints what it did.
# Usage: bench/embed/setup-anchors.sh      (from anywhere)
set -euo pipefail

ORT_VERSION=1.30.0
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY=/usr/bin/python3

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi

# --- Debian packages --------------------------------------------------------
missing=()
for pkg in python3-torch python3-numpy libopenblas-dev; do
  if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    echo "apt: $pkg already installed ($(dpkg-query -W -f='${Version}' "$pkg"))"
  else
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "apt: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- onnxruntime-node ---------------------------------------------------------
installed=""
if [ -f "$HERE/node_modules/onnxruntime-node/package.json" ]; then
  installed="$(node -p "require('$HERE/node_modules/onnxruntime-node/package.json').version")"
fi
if [ "$installed" = "$ORT_VERSION" ]; then
  echo "npm: onnxruntime-node@$ORT_VERSION already in $HERE/node_modules"
else
  echo "npm: installing onnxruntime-node@$ORT_VERSION into $HERE/node_modules (had: ${installed:-none})"
  npm install --ignore-scripts --no-audit --no-fund --save-exact --prefix "$HERE" \
    "onnxruntime-node@$ORT_VERSION"
fi

# --- verify -------------------------------------------------------------------
echo "check: torch"
"$PY" - <<'PYEOF'
import ctypes, os, re
import numpy, torch
a = torch.randn(64, 64)
(a @ a).sum().item()                     # makes sure the BLAS is loaded and runs
blas = sorted({os.path.realpath(l.split()[-1]) for l in open("/proc/self/maps")
               if re.search(r"lib(open)?blas[^/]*\.so", l)})
info = re.search(r"BLAS_INFO=([^,]+)", torch.__config__.show())
print(f"  torch {torch.__version__}, numpy {numpy.__version__}, "
      f"BLAS_INFO={info.group(1) if info else '?'}, loaded: {', '.join(blas) or 'none'}")
PYEOF
echo "  libblas.so.3 alternative: $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)"
echo "check: onnxruntime-node"
(cd "$HERE" && node -e "
const ort = require('onnxruntime-node');
// load and initialise the native library itself (libonnxruntime.so via the N-API binding)
const b = require('./node_modules/onnxruntime-node/dist/binding.js');
b.initOrt();
const eps = b.binding.listSupportedBackends().map(e => e.name).join(', ');
console.log('  onnxruntime-node ' + ort.env.versions.node + ' (common ' + ort.env.versions.common +
            ') native library loaded; execution providers: ' + eps);
")
echo "setup-anchors: ok"
