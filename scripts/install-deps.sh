#!/usr/bin/env bash
# Installs what Quarry needs from Debian packages. Idempotent: installs only what
# is missing. Uses sudo when not root. Usage: scripts/install-deps.sh [build|demo|bench]
set -euo pipefail

build_pkgs=(
  g++ cmake ninja-build make pkg-config
  clang libclang-rt-14-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libgumbo-dev liblmdb-dev libutf8proc-dev libstemmer-dev
  nlohmann-json3-dev libcli11-dev libxapian-dev
  libhnswlib-dev libfaiss-dev zlib1g-dev
  libdnnl-dev libsentencepiece-dev sentencepiece
  python3-numpy python3-sentencepiece
  redis-server libhiredis-dev
  nodejs npm  # tests/clients: the official OpenAI and Qdrant JS clients
)
demo_pkgs=(postgresql-doc-15)
bench_pkgs=(postgresql-doc-15 linux-doc-6.1 jq dataset-fashion-mnist zlib1g-dev
            python3-torch libopenblas-dev wrk)

want=("${build_pkgs[@]}")
case "${1:-build}" in
  build) ;;
  demo) want+=("${demo_pkgs[@]}") ;;
  bench) want+=("${bench_pkgs[@]}") ;;
  *) echo "usage: $0 [build|demo|bench]" >&2; exit 2 ;;
esac

# A package counts as present when it is installed or an installed package
# provides it: NodeSource's nodejs provides (and conflicts with) npm, so asking
# apt for Debian's npm there would fail.
provided=" $(dpkg-query -W -f='${Status}\t${Provides}\n' 2>/dev/null |
  awk -F'\t' '$1 ~ /ok installed/ && $2 != "" {print $2}' |
  tr ',' '\n' | sed -E 's/\(.*\)//; s/^ +//; s/ +$//' | tr '\n' ' ') "
missing=()
for pkg in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" &&
     [[ "$provided" != *" $pkg "* ]]; then
    missing+=("$pkg")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q || true
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
