#!/usr/bin/env bash
# Retrieval quality and end-to-end query latency through `quarry eval` (BM25,
# chunked documents, best chunk per document) on SciFact and Cranfield, with
# the default parameters (Pyserini's k1=0.9 b=0.4) and bm25s's k1=1.5 b=0.75.
# Writes bench/results/eval.json. Builds nothing: expects build/release.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
quarry="${QUARRY_BUILD:-$root/build/release}/quarry"
data="${QUARRY_DATA:-$root/../shared/data}"
out="$root/bench/results/eval.json"
[ -x "$quarry" ] || { echo "run_eval.sh: $quarry not found; run 'make build' first" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
runs=()
for dataset in scifact cranfield; do
  [ -d "$data/$dataset" ] || { echo "run_eval.sh: $data/$dataset missing (set QUARRY_DATA)" >&2; exit 1; }
  for params in "0.9 0.4" "1.5 0.75"; do
    set -- $params
    runs+=("$("$quarry" eval --beir "$data/$dataset" --data "$tmp/$dataset-$1-$2" --k1 "$1" --b "$2" --json |
              jq --arg name "$dataset" '. + {dataset: $name}')")
  done
done
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
printf '%s\n' "${runs[@]}" | jq -s --arg cpu "$cpu" --argjson cores "$(nproc)" --arg date "$(date -u +%FT%TZ)" \
  '{benchmark: "beir_eval", mode: "sparse",
    reference: {scifact_ndcg10: {pyserini_bm25_flat: 0.679, pyserini_bm25_multifield: 0.665, bm25s_k1_1_5_b_0_75: 0.687}},
    latency_note: "p50/p99 per query through Collection::Search: analysis, BM25 top 300 chunks, payload fetch from LMDB",
    machine: {cpu: $cpu, cores: $cores, date: $date}, runs: .}' > "$out"
jq -r '.runs[] | "\(.dataset) k1=\(.bm25_k1) b=\(.bm25_b): nDCG@10 \(.["ndcg@10"]*10000|round/10000)  R@100 \(.["recall@100"]*10000|round/10000)  MRR@10 \(.["mrr@10"]*10000|round/10000)  p50 \(.p50_ms*1000|round/1000) ms  p99 \(.p99_ms*1000|round/1000) ms"' "$out"
echo "wrote $out"
