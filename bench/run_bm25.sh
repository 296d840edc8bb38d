#!/usr/bin/env bash
# BM25 latency + quality, Quarry vs Xapian (anchor), on SciFact and Cranfield.
# Builds nothing: expects build/release from `make build`.
# Writes bench/results/bm25.json = {"runs": [<scifact>, <cranfield>]}.
# Usage: bench/run_bm25.sh [--repeat N] [--k K]   (extra args go to the binary)
# Env: QUARRY_DATA (default <repo>/../shared/data), QUARRY_BUILD (default <repo>/build/release).
set -euo pipefail

root="$(git -C "$(dirname "$0")" rev-parse --show-toplevel 2>/dev/null ||
        (cd "$(dirname "$0")/.." && pwd))"
data="${QUARRY_DATA:-$root/../shared/data}"
bin="${QUARRY_BUILD:-$root/build/release}/bench/quarry_bm25_vs_xapian"
out="$root/bench/results/bm25.json"

if [ ! -x "$bin" ]; then
  echo "run_bm25.sh: $bin not found; run 'make build' first" >&2
  exit 1
fi
for dataset in scifact cranfield; do
  for file in corpus.jsonl queries.jsonl qrels/test.tsv; do
    if [ ! -f "$data/$dataset/$file" ]; then
      echo "run_bm25.sh: missing $data/$dataset/$file" >&2
      echo "  put the BEIR-format datasets under $data (or set QUARRY_DATA)" >&2
      exit 1
    fi
  done
done

mkdir -p "$root/bench/results"
"$bin" --beir "$data/scifact" --beir "$data/cranfield" --out "$out" "$@"
