#!/usr/bin/env bash
# The layered cache (issue: caching): SciFact ingest + re-ingest through the
# chunk-embedding cache, and a Zipf query log replayed against hybrid search,
# by two processes sharing one Redis. Builds nothing: expects
# quarry_cache_bench in build/release (`make build`). Starts its own
# redis-server on a free loopback port and stops it at the end.
# Writes bench/results/cache.json (QUICK=1 / --quick: 4,000 requests,
# bench/results/cache-quick.json).
# Usage: bench/run_cache.sh [--quick]
# Env: QUARRY_BUILD (default <repo>/build/release), QUARRY_DATA (default
# <repo>/../shared/data); the model and collections live in $QUARRY_BUILD/cache-bench.
set -euo pipefail

root="$(git -C "$(dirname "$0")" rev-parse --show-toplevel 2>/dev/null ||
        (cd "$(dirname "$0")/.." && pwd))"
build="${QUARRY_BUILD:-$root/build/release}"
bin="$build/bench/quarry_cache_bench"
data="${QUARRY_DATA:-$root/../shared/data}"
scifact="$data/scifact"
work="$build/cache-bench"
py=/usr/bin/python3
requests=20000
out="$root/bench/results/cache.json"
if [ "${1:-}" = "--quick" ]; then requests=4000; out="$root/bench/results/cache-quick.json"; fi

[ -x "$bin" ] || { echo "run_cache.sh: $bin not found; run 'make build' first" >&2; exit 1; }
[ -f "$scifact/corpus.jsonl" ] || { echo "run_cache.sh: $scifact/corpus.jsonl missing" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "run_cache.sh: redis-server missing (Debian redis-server)" >&2; exit 1; }

mkdir -p "$work" "$root/bench/results"
# A random model with bge-small's exact shapes and an uncased WordPiece vocab
# learned from the corpus (real weights cannot be downloaded here).
model="$work/bge-small"
if [ ! -f "$model/model.safetensors" ]; then
  "$py" "$root/tools/make_tiny_model.py" --out "$model" --preset bge-small \
    --vocab-corpus "$scifact/corpus.jsonl" >&2
fi

port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis_dir=$(mktemp -d)
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$redis_dir" \
  --daemonize yes --pidfile "$redis_dir/redis.pid" --logfile "$redis_dir/redis.log"
cleanup() {
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$redis_dir"
}
trap cleanup EXIT
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done

url="redis://127.0.0.1:$port"
rm -rf "$work/data"
QUARRY_LOG=quiet "$bin" --phase full --scifact "$scifact" --model "$model" --data "$work/data" \
  --redis "$url" --requests "$requests" --out "$work/full.json"
QUARRY_LOG=quiet "$bin" --phase shared --scifact "$scifact" --model "$model" --data "$work/data" \
  --redis "$url" --requests "$requests" --out "$work/shared.json"
redis_keys=$(redis-cli -p "$port" dbsize)
redis_mem=$(redis-cli -p "$port" info memory | awk -F: '/^used_memory:/{print $2}' | tr -d '\r')

jq --slurpfile shared "$work/shared.json" --argjson keys "$redis_keys" --argjson mem "$redis_mem" '
  {machine, model, precision, zipf_s, queries_distinct, requests, warmup_requests,
   hit_rate, memory_hit_p50_ms, redis_hit_p50_ms, miss_p50_ms, reingest_cached_share,
   memory_hit_p99_ms, redis_hit_p99_ms, miss_p99_ms, no_cache_p50_ms, no_cache_p99_ms,
   memory_hits, redis_hits, misses, ingest, cache,
   second_process: ($shared[0] | {hit_rate, memory_hits, redis_hits, misses, redis_hit_share,
                                  memory_hit_p50_ms, miss_p50_ms}),
   redis: {keys: $keys, used_memory_bytes: $mem}}' "$work/full.json" > "$out"
echo "wrote $out" >&2
jq '{hit_rate, memory_hit_p50_ms, redis_hit_p50_ms, miss_p50_ms, reingest_cached_share, second_process}' "$out"
