#!/usr/bin/env bash
# Hybrid search end to end at scale (issue: hybrid search): latency p50/p99 one
# query at a time and with 8 concurrent callers, with and without a rerank of
# the top 20, RSS of the loaded collection, and ingest with embeddings in
# documents per hour. Builds nothing: expects build/release (`make build`).
# Writes bench/results/e2e.json (1,000,000 chunks) or with --quick
# bench/results/e2e-quick.json (100,000 chunks). bench/e2e_bench.cc says how the
# chunks and their vectors are made. The built collection is kept in
# $QUARRY_BUILD/e2e-bench/data-N and reused by later runs.
# Usage: bench/run_e2e.sh [--quick]
set -euo pipefail

root="$(git -C "$(dirname "$0")" rev-parse --show-toplevel 2>/dev/null ||
        (cd "$(dirname "$0")/.." && pwd))"
build="${QUARRY_BUILD:-$root/build/release}"
bin="$build/bench/quarry_e2e_bench"
quarry="$build/quarry"
corpus=/usr/share/doc/linux-doc-6.1/html
py=/usr/bin/python3
work="$build/e2e-bench"
chunks=1000000; out="$root/bench/results/e2e.json"
if [ "${1:-}" = "--quick" ]; then chunks=100000; out="$root/bench/results/e2e-quick.json"; fi

[ -x "$bin" ] || { echo "run_e2e.sh: $bin not found; run 'make build' first" >&2; exit 1; }
[ -d "$corpus" ] || { echo "run_e2e.sh: $corpus missing (Debian package linux-doc-6.1)" >&2; exit 1; }
mkdir -p "$work" "$root/bench/results"

# Random models with the real shapes and a vocabulary learned from the corpus.
for preset in bge-small ms-marco-minilm-l6; do
  if [ ! -f "$work/$preset/model.safetensors" ]; then
    "$py" "$root/tools/make_tiny_model.py" --out "$work/$preset" --preset "$preset" \
      --vocab-corpus "$corpus" >&2
  fi
done

# Ingest with embeddings through the real pipeline (`quarry ingest`, bge-small
# shape, int8, full 256-token chunks) on every sixth page of the corpus.
sample=$(find "$corpus" -name '*.html' | sort | awk 'NR % 6 == 1')
rm -rf "$work/ingest-data"
ingest=$(QUARRY_LOG=quiet "$quarry" ingest $sample --data "$work/ingest-data" -c docs \
           --model "$work/bge-small" --precision int8 --no-cache all --json)
rm -rf "$work/ingest-data"
docs_per_hour=$(echo "$ingest" | jq .documents_per_hour)
echo "ingest: $(echo "$ingest" | jq -c '{documents, chunks, elapsed_s, documents_per_hour, peak_rss_bytes}')" >&2

data="$work/data-$chunks"
if [ ! -f "$data/build.json" ]; then
  rm -rf "$data"
  QUARRY_LOG=quiet "$bin" --phase build --corpus "$corpus" --data "$data" \
    --model "$work/bge-small" --chunks "$chunks"
fi
# Each query run starts cold: the collection's files are dropped from the page
# cache before it opens. The first run has all the machine's memory; the
# second (where a memory cgroup can be made, e.g. as root) runs with the
# collection limited to 1,024 MiB, heap and page cache together.
query() {
  QUARRY_LOG=quiet "$bin" --phase query --corpus "$corpus" --data "$data" \
    --model "$work/bge-small" --reranker "$work/ms-marco-minilm-l6" \
    --ingest-docs-per-hour "$docs_per_hour" --cold 1 "$@"
}
query --out "$out.tmp"
limited='{"results": [], "memory_limit": null, "rss_mb": null}'
if query --memory-limit-mb 1024 --out "$out.limited.tmp"; then
  limited=$(cat "$out.limited.tmp")
else
  echo "run_e2e.sh: no memory cgroup here; skipping the 1 GiB run" >&2
fi
jq --slurpfile build "$data/build.json" --argjson ingest "$ingest" --argjson limited "$limited" \
  '. + {build: $build[0],
        results: (.results + $limited.results),
        memory_limited: {memory_limit: $limited.memory_limit, rss_mb: $limited.rss_mb},
        ingest: ($ingest | {documents, chunks, elapsed_s, documents_per_hour, peak_rss_bytes}),
        bar: {hybrid_p50_ms: 10, hybrid_p99_ms: 25, rss_mb: 1024, ingest_docs_per_hour: 10000}}' \
  "$out.tmp" > "$out"
rm -f "$out.tmp" "$out.limited.tmp"
echo "wrote $out" >&2
jq -c '.results[] | {mode, concurrency, rerank_top, memory_limit_mb, p50_ms, p99_ms, rss_mb}' "$out"
