#!/usr/bin/env bash
# ANN search: Quarry's DenseIndex vs hnswlib and FAISS (anchors), on Fashion-MNIST
# (784-d L2) and a synthetic 384-d cosine set. Builds nothing: expects
# quarry_ann_bench in build/release from `make build`.
# Writes bench/results/ann.json, or with --quick bench/results/ann-quick.json
# (100k synthetic vectors, 1,000 queries per dataset, one timed pass).
# Usage: bench/run_ann.sh [--quick] [extra args for quarry_ann_bench]
# Env: QUARRY_BUILD (default <repo>/build/release); ground truth is cached in
# $QUARRY_BUILD/ann-cache.
set -euo pipefail

root="$(git -C "$(dirname "$0")" rev-parse --show-toplevel 2>/dev/null ||
        (cd "$(dirname "$0")/.." && pwd))"
build="${QUARRY_BUILD:-$root/build/release}"
bin="$build/bench/quarry_ann_bench"
fashion=/usr/share/datasets/fashion-mnist

if [ ! -x "$bin" ]; then
  echo "run_ann.sh: $bin not found; run 'make build' first" >&2
  exit 1
fi
for file in train-images-idx3-ubyte.gz t10k-images-idx3-ubyte.gz; do
  if [ ! -f "$fashion/$file" ]; then
    echo "run_ann.sh: missing $fashion/$file (Debian package dataset-fashion-mnist)" >&2
    exit 1
  fi
done

out="$root/bench/results/ann.json"
for arg in "$@"; do
  [ "$arg" = "--quick" ] && out="$root/bench/results/ann-quick.json"
done
mkdir -p "$root/bench/results"
"$bin" --fashion-dir "$fashion" --cache-dir "$build/ann-cache" --out "$out" "$@"
