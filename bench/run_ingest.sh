#!/usr/bin/env bash
# Ingest throughput (BM25 only) on the Linux kernel documentation (Debian
# linux-doc-6.1, ~3,200 HTML pages), plus the PostgreSQL manual. Writes
# bench/results/ingest.json. Builds nothing: expects build/release.
# The product target is >= 10,000 documents/hour on 2 cores; the JSON gives the
# ratio against it. Each corpus is ingested into a fresh data directory, so the
# figure includes parsing, chunking, analysis, LMDB commits and the snapshot.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
quarry="${QUARRY_BUILD:-$root/build/release}/quarry"
out="$root/bench/results/ingest.json"
[ -x "$quarry" ] || { echo "run_ingest.sh: $quarry not found; run 'make build' first" >&2; exit 1; }

declare -A corpora=(
  [linux-doc-6.1]=/usr/share/doc/linux-doc-6.1/html
  [postgresql-doc-15]=/usr/share/doc/postgresql-doc-15/html
)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
runs=()
for name in linux-doc-6.1 postgresql-doc-15; do
  dir=${corpora[$name]}
  [ -d "$dir" ] || { echo "run_ingest.sh: $dir missing: scripts/install-deps.sh bench" >&2; exit 1; }
  input_bytes=$(find "$dir" -name '*.html' -printf '%s\n' | awk '{s+=$1} END {print s}')
  result=$("$quarry" ingest "$dir" --ext html --data "$tmp/$name" --collection bench --json)
  runs+=("$(jq -n --arg corpus "$name" --arg path "$dir" --argjson input_html_bytes "$input_bytes" \
            --argjson r "$result" '$r + {corpus: $corpus, path: $path, input_html_bytes: $input_html_bytes,
              input_mb_per_s: ($input_html_bytes / 1e6 / $r.elapsed_s),
              target_documents_per_hour: 10000,
              ratio_to_target: ($r.documents_per_hour / 10000)}')")
done
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
printf '%s\n' "${runs[@]}" | jq -s --arg cpu "$cpu" --argjson cores "$(nproc)" --arg date "$(date -u +%FT%TZ)" \
  '{benchmark: "ingest_throughput", mode: "bm25-only",
    machine: {cpu: $cpu, cores: $cores, date: $date},
    note: "mb_per_s counts extracted text; input_mb_per_s counts raw HTML bytes",
    runs: .}' > "$out"
jq -r '.runs[] | "\(.corpus): \(.documents) docs, \(.chunks) chunks in \(.elapsed_s | .*100|round/100) s = \(.documents_per_hour|round) docs/hour, \(.input_mb_per_s*10|round/10) MB/s of HTML, peak RSS \(.peak_rss_bytes/1048576|round) MiB"' "$out"
echo "wrote $out"
