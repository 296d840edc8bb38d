#!/usr/bin/env bash
# Server load: `quarry serve` under 128 concurrent keep-alive clients.
#
# A collection of the Linux kernel documentation (Debian linux-doc-6.1) split
# into ~100,000 chunks (--chunk-tokens 144), embedded with a random model of
# bge-small's shape (tools/make_tiny_model.py --preset bge-small, int8), is
# built once and cached under build/bench-data/ (QUARRY_BENCH_DATA overrides).
# Each run serves a fresh copy of it and drives, with bench/load's
# quarry_load_gen (closed loop, 1 epoll thread):
#   (a) hybrid search, POST /collections/docs/search, 128 clients;
#   (b) POST /v1/embeddings (one query string per call), 128 clients;
#   (c) hybrid search again, 128 clients, while a writer process upserts
#       whole HTML pages continuously (POST /collections/docs/documents, 1 client).
# wrk (Debian package) repeats (a) and (b) as a cross-check of the generator.
# Queries are 20,000 section headings of the same docs (bench/load/make_workload.py).
# The server's cache (if this build has one) is off: repeated queries would
# otherwise measure cache hits; the access log is off (QUARRY_LOG=quiet).
#
# Writes bench/results/load.json; --quick: 10,000 chunks (every 10th page),
# 15 s per phase, bench/results/load-quick.json.
# Usage: bench/run_load.sh [--quick]
# Env: QUARRY_BUILD (default <repo>/build/release: quarry, bench/load/quarry_load_gen),
#      QUARRY_BENCH_DATA (default <repo>/build/bench-data), LOAD_CLIENTS (128),
#      LOAD_DURATION (seconds per phase), LOAD_WARMUP (3), LOAD_NO_WRK=1,
#      LOAD_SERVE_FLAGS (more `quarry serve` flags, e.g. "--workers 32"), LOAD_OUT (output file).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build="${QUARRY_BUILD:-$root/build/release}"
quarry="$build/quarry"
loadgen="$build/bench/load/quarry_load_gen"
data="${QUARRY_BENCH_DATA:-$root/build/bench-data}"
corpus=/usr/share/doc/linux-doc-6.1/html
py=/usr/bin/python3
quick=0
[ "${1:-}" = "--quick" ] && quick=1

if [ $quick = 1 ]; then
  size=10k; every=10; duration="${LOAD_DURATION:-15}"; out="${LOAD_OUT:-$root/bench/results/load-quick.json}"
else
  size=100k; every=1; duration="${LOAD_DURATION:-60}"; out="${LOAD_OUT:-$root/bench/results/load.json}"
fi
clients="${LOAD_CLIENTS:-128}"
warmup="${LOAD_WARMUP:-3}"
chunk_tokens=144
model_id=bge-small

for bin in "$quarry" "$loadgen"; do
  [ -x "$bin" ] || { echo "run_load.sh: $bin not found; run 'make build' first" >&2; exit 1; }
done
[ -d "$corpus" ] || { echo "run_load.sh: $corpus missing (Debian package linux-doc-6.1)" >&2; exit 1; }
for tool in jq curl; do
  command -v $tool >/dev/null || { echo "run_load.sh: $tool missing (scripts/install-deps.sh bench)" >&2; exit 1; }
done
use_wrk=1
if [ "${LOAD_NO_WRK:-0}" = 1 ] || ! command -v wrk >/dev/null; then use_wrk=0; fi

log() { echo "run_load: $*" >&2; }

# ---- the model, the workload and the collection (cached) ------------------------
mkdir -p "$data/models" "$root/bench/results"
model="$data/models/$model_id"
if [ ! -f "$model/model.safetensors" ]; then
  log "making the $model_id-shaped random model (vocabulary from the corpus)"
  rm -rf "$model"
  "$py" "$root/tools/make_tiny_model.py" --out "$model" --preset bge-small --vocab-corpus "$corpus" >&2
fi
model_dim="$(jq -r '.hidden_size' "$model/config.json")"

workload="$data/load-workload"
if [ ! -f "$workload/.complete" ] || [ "$root/bench/load/make_workload.py" -nt "$workload/.complete" ]; then
  log "extracting queries and writer pages from $corpus"
  rm -rf "$workload"
  "$py" "$root/bench/load/make_workload.py" --corpus "$corpus" --out "$workload" --model "$model_id" >&2
  touch "$workload/.complete"
fi

# Flags the serve and ingest commands of this build understand.
serve_help="$("$quarry" serve --help 2>&1 || true)"
ingest_help="$("$quarry" ingest --help 2>&1 || true)"
cache_off=()
[[ "$serve_help" == *--no-cache* ]] && cache_off=(--no-cache all)
ingest_cache_off=()
[[ "$ingest_help" == *--no-cache* ]] && ingest_cache_off=(--no-cache all)

collection="$data/load-$size"
if [ ! -f "$collection/.complete" ]; then
  rm -rf "$collection"
  files=()
  if [ "$every" = 1 ]; then
    files=("$corpus")
  else
    mapfile -t files < <(find "$corpus" -name '*.html' | LC_ALL=C sort | awk -v n="$every" 'NR % n == 1')
  fi
  log "building the $size-chunk collection in $collection (${#files[@]} inputs; embeds every chunk: minutes)"
  # Not part of the measurement: niced, so that it shares the machine politely.
  QUARRY_LOG=quiet nice -n 10 "$quarry" ingest "${files[@]}" --ext html --data "$collection" --collection docs \
    --model "$model" --precision int8 --chunk-tokens $chunk_tokens "${ingest_cache_off[@]}" --json \
    --progress-ms 30000 >"$collection.ingest.json"
  jq -e '.ok' "$collection.ingest.json" >/dev/null || { cat "$collection.ingest.json" >&2; exit 1; }
  mv "$collection.ingest.json" "$collection/.complete"
fi
ingest="$(cat "$collection/.complete")"
log "collection: $(jq -r '"\(.collection_documents) documents, \(.collection_chunks) chunks"' <<<"$ingest")"

# ---- the server ----------------------------------------------------------------
tmp="$(mktemp -d "${TMPDIR:-/tmp}/quarry_load.XXXXXX")"
server_pid=""
bg_pids=()
cleanup() {
  for pid in "${bg_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ -n "$server_pid" ]; then kill -KILL "$server_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# A fresh copy: phase (c) writes to it, the cached collection stays as built.
cp -a "$collection" "$tmp/data"
read -r -a extra_serve_flags <<<"${LOAD_SERVE_FLAGS:-}"
serve_flags=(--port 0 --data "$tmp/data" --model "$model" --precision int8 "${cache_off[@]}"
             "${extra_serve_flags[@]}")
QUARRY_LOG=quiet "$quarry" serve "${serve_flags[@]}" >"$tmp/stdout" 2>"$tmp/stderr" &
server_pid=$!
port=""
for _ in $(seq 1 600); do
  line="$(grep -m1 'listening on http://' "$tmp/stdout" 2>/dev/null || true)"
  if [ -n "$line" ]; then port="${line##*:}"; break; fi
  kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/stderr" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { log "quarry serve did not start"; cat "$tmp/stderr" >&2; exit 1; }
base="http://127.0.0.1:$port"
log "quarry serve (pid $server_pid) on $base; ${clients} clients, ${warmup}+${duration} s per phase"
# One request of each kind must work before load is put on.
curl -sf -X POST "$base/collections/docs/search" -d "$(head -1 "$workload/search.jsonl")" >/dev/null
curl -sf -X POST "$base/v1/embeddings" -d "$(head -1 "$workload/embed.jsonl")" >/dev/null

ticks="$(getconf CLK_TCK)"
cpu_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9; exit}' /proc/stat; }
proc_cpu() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
loadavg() { cut -d' ' -f1 /proc/loadavg; }
metric() { awk -v name="$1" '$1 == name {print $2; exit}' "$tmp/metrics" 2>/dev/null; }

# Server-side facts after a phase (from /metrics).
server_facts() {
  curl -sf "$base/metrics" >"$tmp/metrics" || : >"$tmp/metrics"
  jq -n --arg rss "$(metric process_resident_memory_bytes)" \
        --arg rejected "$(metric quarry_http_rejected_overload)" \
        --arg open "$(metric quarry_http_open_connections)" \
        --arg docs "$(awk '$1 ~ /^quarry_collection_documents/ {print $2; exit}' "$tmp/metrics")" \
    '{rss_mb: (($rss | tonumber? // 0) / 1048576 | round), rejected_overload_total: ($rejected | tonumber? // null),
      open_connections_after: ($open | tonumber? // null), collection_documents: ($docs | tonumber? // null)}'
}

results=()
# CPU accounting around one run: cores used on average by the server, the
# load generators and every other process on the machine.
cpu_begin() { t0="$(date +%s.%N)"; busy0="$(cpu_busy)"; srv0="$(proc_cpu "$server_pid")"; load0="$(loadavg)"; }
# cpu_end GENERATOR_CPU_SECONDS: prints {"cpu": ..., "loadavg_1m_before", ...}.
cpu_end() {
  local t1 busy1 srv1
  t1="$(date +%s.%N)"; busy1="$(cpu_busy)"; srv1="$(proc_cpu "$server_pid")"
  jq -n --argjson wall "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" \
        --argjson busy "$(( busy1 - busy0 ))" --argjson srv "$(( srv1 - srv0 ))" \
        --argjson tck "$ticks" --argjson gen "$1" --argjson l0 "$load0" --argjson l1 "$(loadavg)" \
    '{loadavg_1m_before: $l0, loadavg_1m_after: $l1,
      cpu: {wall_s: ($wall*100|round/100), machine_busy_cores: ($busy/$tck/$wall*100|round/100),
            server_cores: ($srv/$tck/$wall*100|round/100), loadgen_cores: ($gen/$wall*100|round/100),
            other_processes_cores: ((($busy - $srv)/$tck - $gen)/$wall*100|round/100)}}'
}

# run_phase PHASE LABEL PATH BODIES [writer]: one quarry_load_gen run (and the
# writer beside it when asked); appends the entries to results.
run_phase() {
  local phase="$1" label="$2" path="$3" bodies="$4" writer="${5:-}" writer_pid="" gen_cpu extra facts
  log "phase $phase: $label"
  cpu_begin
  if [ -n "$writer" ]; then
    "$loadgen" --url "$base/collections/docs/documents" --method POST --bodies "$workload/writer.jsonl" \
      --template --clients 1 --duration "$duration" --warmup "$warmup" --timeout 120 \
      --label "POST /collections/{name}/documents (writer)" >"$tmp/writer.json" &
    writer_pid=$!
    bg_pids+=("$writer_pid")
  fi
  "$loadgen" --url "$base$path" --method POST --bodies "$bodies" --clients "$clients" \
    --duration "$duration" --warmup "$warmup" --timeout 30 --label "$label" >"$tmp/main.json"
  gen_cpu="$(jq '.loadgen_cpu_s' "$tmp/main.json")"
  if [ -n "$writer_pid" ]; then
    wait "$writer_pid"
    gen_cpu="$(jq --argjson main "$gen_cpu" '.loadgen_cpu_s + $main' "$tmp/writer.json")"
  fi
  extra="$(cpu_end "$gen_cpu")"
  facts="$(server_facts)"
  extra="$(jq -c --arg phase "$phase" --argjson server "$facts" '{phase: $phase} + . + {server: $server}' <<<"$extra")"
  results+=("$(jq -c --argjson e "$extra" '. + $e' "$tmp/main.json")")
  jq -r '"  \(.route): \(.requests) requests, \(.errors) errors, \(.dropped_connections) dropped, \(.timeouts) timeouts, \(.qps) qps, p50 \(.p50_ms) ms, p99 \(.p99_ms) ms, p999 \(.p999_ms) ms"' \
    "$tmp/main.json" >&2
  if [ -n "$writer_pid" ]; then
    results+=("$(jq -c --argjson e "$extra" '. + $e' "$tmp/writer.json")")
    jq -r '"  \(.route): \(.requests) upserts, \(.errors) errors, \(.qps)/s, p50 \(.p50_ms) ms, p99 \(.p99_ms) ms"' \
      "$tmp/writer.json" >&2
  fi
  log "  $(jq -c '{cpu, server}' <<<"$extra")"
}

# run_wrk PHASE LABEL PATH BODIES: the same load through wrk (1 thread).
run_wrk() {
  local phase="$1" label="$2" path="$3" bodies="$4" line gen_cpu extra
  [ $use_wrk = 1 ] || return 0
  log "phase $phase (wrk): $label"
  cpu_begin
  local TIMEFORMAT='%U %S'
  { time wrk -t1 -c"$clients" -d"${duration}s" --timeout 30s -s "$root/bench/load/wrk_bodies.lua" \
      "$base$path" -- "$bodies" >"$tmp/wrk.txt" 2>&1; } 2>"$tmp/wrk.time" ||
    { cat "$tmp/wrk.txt" >&2; return 0; }
  gen_cpu="$(awk '{print $1 + $2}' "$tmp/wrk.time")"
  extra="$(cpu_end "$gen_cpu")"
  line="$(sed -n 's/^WRK_JSON //p' "$tmp/wrk.txt")"
  results+=("$(jq -c --arg route "$label" --arg phase "$phase" --argjson c "$clients" --argjson e "$extra" \
      '{route: $route, clients: $c} + . + {phase: $phase, dropped_connections: null} + $e' <<<"$line")")
  jq -r '"  wrk: \(.requests) requests, \(.errors) non-2xx, \(.read_errors) read errors, \(.timeouts) timeouts, \(.qps|round) qps, p50 \(.p50_ms) ms, p99 \(.p99_ms) ms"' <<<"$line" >&2
  log "  $(jq -c '{cpu}' <<<"$extra")"
}

# Where a search's time goes with no load: stages_ms of 50 sequential hybrid
# searches (medians), as the server reports them.
stage_profile() {
  local n=0 q
  : >"$tmp/stages.jsonl"
  while IFS= read -r q && [ $n -lt 50 ]; do
    curl -sf -X POST "$base/collections/docs/search" -d "$(jq -c '. + {with_text: false}' <<<"$q")" |
      jq -c '.result | (.stages_ms // {}) + {took_ms}' >>"$tmp/stages.jsonl" || true
    n=$((n + 1))
  done <"$workload/search.jsonl"
  jq -s '. as $rows
         | if length == 0 then null else
             reduce ($rows | map(keys) | add | unique)[] as $key ({};
               . + {($key): ([$rows[][$key] | numbers] | sort | if length == 0 then null
                             else .[length / 2 | floor] * 1000 | round / 1000 end)})
           end' "$tmp/stages.jsonl"
}

machine_load0="$(loadavg)"
stages="$(stage_profile)"
log "unloaded hybrid search, median stages_ms: $(jq -c . <<<"$stages")"
run_phase a "POST /collections/{name}/search (hybrid)" /collections/docs/search "$workload/search.jsonl"
run_wrk a "POST /collections/{name}/search (hybrid)" /collections/docs/search "$workload/search.jsonl"
run_phase b "POST /v1/embeddings" /v1/embeddings "$workload/embed.jsonl"
run_wrk b "POST /v1/embeddings" /v1/embeddings "$workload/embed.jsonl"
run_phase c "POST /collections/{name}/search (hybrid, with writer)" /collections/docs/search \
  "$workload/search.jsonl" writer
machine_load1="$(loadavg)"

kill -TERM "$server_pid"
server_status=0
wait "$server_pid" || server_status=$?
server_pid=""
[ $server_status = 0 ] || log "warning: quarry serve exited with $server_status after SIGTERM"
warnings="$(grep -v '^{' "$tmp/stderr" | tail -n 20 || true)"

cpu_model="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
printf '%s\n' "${results[@]}" | jq -s \
  --arg cpu "$cpu_model" --argjson cores "$(nproc)" --arg date "$(date -u +%FT%TZ)" \
  --argjson l0 "$machine_load0" --argjson l1 "$machine_load1" --argjson quick "$quick" \
  --argjson ingest "$ingest" --arg size "$size" --argjson tokens "$chunk_tokens" \
  --arg model "$model_id" --argjson dim "$model_dim" --arg flags "${cache_off[*]}" \
  --arg extra "${extra_serve_flags[*]}" \
  --argjson status "$server_status" --arg warnings "$warnings" --argjson stages "$stages" \
  --argjson mem "$(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo)" '
  {benchmark: "server_load", quick: ($quick == 1),
   machine: {cpu: $cpu, cores: $cores, memory_mb: $mem, date: $date,
             loadavg_1m_before: $l0, loadavg_1m_after: $l1},
   setup: {corpus: "linux-doc-6.1 HTML", collection: $size,
           documents: $ingest.collection_documents, chunks: $ingest.collection_chunks,
           chunk_tokens: $tokens, ingest_elapsed_s: $ingest.elapsed_s,
           model: ("random weights, " + $model + " shape, int8"), dim: $dim,
           server: ("quarry serve --precision int8, default workers (32) and queue; " +
                    "QUARRY_LOG=quiet" + (if ($flags | test("no-cache")) then "; cache off" else "" end)),
           server_extra_flags: $extra,
           loadgen: "quarry_load_gen: 1 epoll thread, closed loop, keep-alive, no pipelining",
           unloaded_search_stages_ms_median: $stages,
           server_exit_status_after_sigterm: $status,
           server_stderr_tail: $warnings},
   note: ("Everything (server, load generators, writer) shares this machine: cpu.* gives the average cores each used over a phase, other_processes_cores what the rest of the machine took. " +
          "requests counts answers in the measured window (any status); errors = non-2xx; dropped_connections = closed/reset by the server unannounced; latency from request write to full answer, nearest rank. " +
          "wrk entries repeat (a) and (b) as a cross-check of the generator (its errors = non-2xx; read_errors include server closes)."),
   results: .}' >"$out"
log "wrote $out"
