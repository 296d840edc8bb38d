#!/usr/bin/env bash
# Hybrid search quality on SciFact through `quarry eval` (issue: hybrid search):
# nDCG@10 / Recall@100 / MRR@10 and per-query latency for sparse (BM25), dense,
# hybrid with RRF (k = 2, k = 60) and DBSF, a sweep of the fusion weights, and
# the cross-encoder rerank on and auto (how often auto skips it, and what that
# costs against rerank on). Builds nothing: expects build/release (`make build`).
# Writes bench/results/eval-hybrid.json (QUICK=1 / --quick: the first 100 test
# queries, bench/results/eval-hybrid-quick.json).
#
# Models: --model DIR (embedding model) and --reranker DIR (cross-encoder), or
# QUARRY_EVAL_MODEL / QUARRY_EVAL_RERANKER. Without them, random models with
# bge-small's and ms-marco-MiniLM-L-6's exact shapes are generated with
# tools/make_tiny_model.py (real weights cannot be downloaded here): their
# dense and rerank quality is noise, and those runs show the mechanics only.
# The collection (SciFact chunks + int8 embeddings) is built once per model
# folder and precision under $QUARRY_BUILD/eval-hybrid/ and reused by every run
# and by later invocations (REINDEX=1 rebuilds it).
#
# Usage: bench/run_eval_hybrid.sh [--quick] [--model DIR] [--reranker DIR]
# Env: QUARRY_BUILD (default <repo>/build/release), QUARRY_DATA (default
# <repo>/../shared/data), PRECISION (default int8), QUICK=1, REINDEX=1.
set -euo pipefail

root="$(git -C "$(dirname "$0")" rev-parse --show-toplevel 2>/dev/null ||
        (cd "$(dirname "$0")/.." && pwd))"
build="${QUARRY_BUILD:-$root/build/release}"
quarry="$build/quarry"
data="${QUARRY_DATA:-$root/../shared/data}"
scifact="$data/scifact"
work="$build/eval-hybrid"
py=/usr/bin/python3
precision="${PRECISION:-int8}"
model="${QUARRY_EVAL_MODEL:-}"
reranker="${QUARRY_EVAL_RERANKER:-}"
quick="${QUICK:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --model) model="$2"; shift 2 ;;
    --reranker) reranker="$2"; shift 2 ;;
    *) echo "usage: $0 [--quick] [--model DIR] [--reranker DIR]" >&2; exit 2 ;;
  esac
done
out="$root/bench/results/eval-hybrid.json"
[ -n "$quick" ] && out="$root/bench/results/eval-hybrid-quick.json"

[ -x "$quarry" ] || { echo "run_eval_hybrid.sh: $quarry not found; run 'make build' first" >&2; exit 1; }
[ -f "$scifact/corpus.jsonl" ] || { echo "run_eval_hybrid.sh: $scifact missing (set QUARRY_DATA)" >&2; exit 1; }
mkdir -p "$work" "$root/bench/results"
start_s=$(date +%s)

# Random models with the real shapes and an uncased WordPiece vocab learned
# from the corpus, unless real model folders are given.
random_embed=false; random_rerank=false
if [ -z "$model" ]; then
  model="$work/bge-small"; random_embed=true
  [ -f "$model/model.safetensors" ] ||
    "$py" "$root/tools/make_tiny_model.py" --out "$model" --preset bge-small \
      --vocab-corpus "$scifact/corpus.jsonl" >&2
fi
if [ -z "$reranker" ]; then
  reranker="$work/ms-marco-minilm-l6"; random_rerank=true
  [ -f "$reranker/model.safetensors" ] ||
    "$py" "$root/tools/make_tiny_model.py" --out "$reranker" --preset ms-marco-minilm-l6 \
      --vocab-corpus "$scifact/corpus.jsonl" >&2
fi
model=$(realpath "$model"); reranker=$(realpath "$reranker")
for dir in "$model" "$reranker"; do
  [ -f "$dir/config.json" ] || { echo "run_eval_hybrid.sh: $dir has no config.json" >&2; exit 1; }
done

# One collection per embedding model folder and precision, shared by every run.
key=$(printf '%s|%s' "$model" "$precision" | sha1sum | cut -c1-12)
coll_data="$work/data-$key"
collection=scifact
reindex=()
[ -n "${REINDEX:-}" ] && reindex=(--reindex)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
beir="$scifact"
if [ -n "$quick" ]; then
  # The same corpus and queries; qrels cut to the first 100 judged queries.
  beir="$tmp/scifact"
  mkdir -p "$beir/qrels"
  ln -s "$scifact/corpus.jsonl" "$beir/corpus.jsonl"
  ln -s "$scifact/queries.jsonl" "$beir/queries.jsonl"
  awk -F'\t' 'NR == 1 { print; next } !($1 in seen) { if (++n > 100) exit; seen[$1] = 1 } { print }' \
    "$scifact/qrels/test.tsv" > "$beir/qrels/test.tsv"
fi

runs=()
# run NAME MODE FUSION RRF_K WEIGHTS RERANK ("-": the default)
run() {
  local name=$1 mode=$2 fusion=$3 k=$4 weights=$5 rerank=$6 args=() t0 json
  args=(eval --beir "$beir" --data "$coll_data" --collection "$collection" --model "$model"
        --precision "$precision" --no-cache all --mode "$mode" --rerank "$rerank" --json)
  [ "$fusion" != - ] && args+=(--fusion "$fusion")
  [ "$k" != - ] && args+=(--rrf-k "$k")
  [ "$weights" != - ] && args+=(--weights "$weights")
  [ "$rerank" != off ] && args+=(--reranker "$reranker")
  t0=$(date +%s.%N)
  json=$(QUARRY_LOG=quiet "$quarry" "${args[@]}" "${reindex[@]}")
  reindex=()  # only the first run rebuilds
  # The run that built the collection records how long that took, for later reuses.
  echo "$json" | jq -e '.index_s > 0' >/dev/null &&
    echo "$json" | jq --arg date "$(date -u +%FT%TZ)" --arg p "$precision" \
      '{documents, chunks, index_s, precision: $p, built: $date}' > "$coll_data.index.json"
  json=$(echo "$json" | jq --arg name "$name" --arg fusion "$fusion" --arg k "$k" --arg w "$weights" \
      --argjson wall "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')" '
    {name: $name, mode, rerank,
     fusion: (if .mode == "hybrid" then (if $fusion == "-" then "rrf" else $fusion end) else null end),
     rrf_k: (if .mode == "hybrid" and ($fusion == "-" or $fusion == "rrf")
             then (if $k == "-" then 2 else ($k | tonumber) end) else null end),
     weights_dense_sparse: (if .mode != "hybrid" then null elif $w == "-" then [1, 1]
                            else ($w | split(",") | map(tonumber)) end),
     queries, "ndcg@10", "recall@100", "mrr@10", p50_ms, p99_ms, mean_ms,
     queries_reranked, queries_rerank_skipped,
     rerank_skip_rate: (if .rerank == "auto" then .queries_rerank_skipped / .queries else null end),
     documents, chunks, index_s, wall_s: ($wall * 10 | round / 10)}')
  runs+=("$json")
  echo "$json" | jq -r '"\(.name): nDCG@10 \(.["ndcg@10"]*10000|round/10000)  R@100 \(.["recall@100"]*10000|round/10000)  MRR@10 \(.["mrr@10"]*10000|round/10000)  p50 \(.p50_ms*100|round/100) ms  p99 \(.p99_ms*100|round/100) ms" + (if .rerank_skip_rate then "  skipped \(.queries_rerank_skipped)/\(.queries)" else "" end) + "  (\(.wall_s) s)"' >&2
}

run sparse            sparse - - - off
run dense             dense  - - - off
run hybrid-rrf        hybrid rrf - - off
run hybrid-rrf-k60    hybrid rrf 60 - off
run hybrid-dbsf       hybrid dbsf - - off
for w in 0.9,0.1 0.7,0.3 0.5,0.5 0.3,0.7 0.1,0.9; do
  run "hybrid-rrf-w$w" hybrid rrf - "$w" off
done
run hybrid-rerank-on   hybrid rrf - - on
run hybrid-rerank-auto hybrid rrf - - auto
run sparse-rerank-on   sparse - - - on
run sparse-rerank-auto sparse - - - auto

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
printf '%s\n' "${runs[@]}" | jq -s --arg cpu "$cpu" --argjson cores "$(nproc)" \
  --arg date "$(date -u +%FT%TZ)" --arg binary "$quarry" --arg precision "$precision" \
  --arg model "$model" --arg reranker "$reranker" \
  --argjson random_embed "$random_embed" --argjson random_rerank "$random_rerank" \
  --argjson quick "$([ -n "$quick" ] && echo true || echo false)" \
  --argjson index "$(cat "$coll_data.index.json" 2>/dev/null || echo null)" \
  --argjson total_s "$(( $(date +%s) - start_s ))" '
  {benchmark: "beir_eval_hybrid", dataset: "scifact", quick: $quick,
   models: {embedding: $model, reranker: $reranker, precision: $precision,
            random_weights: ($random_embed or $random_rerank),
            embedding_random_weights: $random_embed, reranker_random_weights: $random_rerank},
   note: (if ($random_embed or $random_rerank) then
     "Random weights with the real shapes (tools/make_tiny_model.py presets bge-small and ms-marco-minilm-l6): dense and rerank quality is noise. These runs show the mechanics: the weights sweep takes hybrid to BM25 as the dense weight goes to 0, and auto-rerank skip rates. Pass real model folders (--model DIR --reranker DIR) to measure quality."
     else "Real model folders." end),
   setup: "quarry eval: chunked SciFact (default chunking, BM25 k1=0.9 b=0.4), best chunk per document; each query asks for 300 chunks, so rerank on scores the first 300 fused chunks (max(rerank_top 20, limit 300)); auto skips when dense and sparse agree on the top 3 (hybrid) or the top score is a 3-sigma outlier of the first 20 (sparse/dense). weights_dense_sparse [1,1] is the default (equal).",
   collection: ($index + {note: "built once (quarry eval: ingest + embed every chunk) and reused by every run; index_s is from the build"}),
   latency_note: "p50/p99 per query through SearchText (query embedding, both retrievers, fusion, rerank, payload fetch) on a shared 2-core machine: indicative only",
   machine: {cpu: $cpu, cores: $cores, date: $date, binary: $binary}, total_s: $total_s, runs: .}' > "$out"
echo "wrote $out ($(( $(date +%s) - start_s )) s)" >&2
