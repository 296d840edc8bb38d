#!/usr/bin/env bash
# Encoder throughput: Quarry (fp32, int8, bf16) against ONNX Runtime and
# PyTorch (fp32) on the same random weights and the same token ids.
# Builds nothing: expects quarry_embed_bench in build/release (`make build`);
# installs the anchors with bench/embed/setup-anchors.sh.
# Writes bench/results/embed.json, or with --quick bench/results/embed-quick.json
# (bge-small only, 300 chunks, one timed pass; about 3 minutes).
# Usage: bench/run_embed.sh [--quick]
# Env: QUARRY_BUILD (default <repo>/build/release); models and ONNX exports are
# cached in $QUARRY_BUILD/embed.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build="${QUARRY_BUILD:-$root/build/release}"
bin="$build/bench/quarry_embed_bench"
corpus=/usr/share/doc/linux-doc-6.1/html
py=/usr/bin/python3
cache="$build/embed"
quick=0
[ "${1:-}" = "--quick" ] && quick=1

[ -x "$bin" ] || { echo "run_embed.sh: $bin not found; run 'make build' first" >&2; exit 1; }
[ -d "$corpus" ] || { echo "run_embed.sh: $corpus missing (Debian package linux-doc-6.1)" >&2; exit 1; }
"$root/bench/embed/setup-anchors.sh" >/dev/null

if [ $quick = 1 ]; then
  models=(bge-small)
  n=300; repeat=1; out="$root/bench/results/embed-quick.json"
else
  models=(bge-small minilm-l6 bge-base ms-marco-minilm-l6)
  n=1000; repeat=2; out="$root/bench/results/embed.json"
fi
threads=2
mkdir -p "$cache" "$root/bench/results"
lines="$cache/results.jsonl"
: > "$lines"

# One random model per shape, with a WordPiece vocabulary learned from the
# corpus so that token counts of real text look like a real uncased vocab's.
for m in "${models[@]}"; do
  dir="$cache/models/$m"
  if [ ! -f "$dir/model.safetensors" ]; then
    "$py" "$root/tools/make_tiny_model.py" --out "$dir" --preset "$m" --vocab-corpus "$corpus" >&2
  fi
  if [ ! -f "$cache/$m.onnx" ]; then
    "$py" "$root/bench/embed/export_onnx.py" --model "$dir" --out "$cache/$m.onnx" >&2
  fi
done

peak_done=0
for m in "${models[@]}"; do
  dir="$cache/models/$m"
  if [ "$m" = ms-marco-minilm-l6 ]; then workloads=(rerank); else workloads=(ingest query); fi
  [ $quick = 1 ] && workloads=(ingest query rerank)
  for w in "${workloads[@]}"; do
    model_dir="$dir"
    # The quick run reranks with bge-small's encoder shape (one model only).
    wl="$cache/$m-$w.json"
    for p in fp32 int8 bf16; do
      extra=()
      [ "$p" = fp32 ] && extra+=(--write-workload "$wl")
      [ $peak_done = 0 ] && extra+=(--peak) && peak_done=1
      echo "quarry $m $w $p" >&2
      "$bin" --model "$model_dir" --corpus "$corpus" --workload "$w" --precision "$p" \
        --threads $threads --n $n --repeat $repeat "${extra[@]}" |
        jq -c --arg m "$m" '. + {model: $m}' >> "$lines"
    done
    echo "onnxruntime $m $w" >&2
    node "$root/bench/embed/ort_bench.mjs" --onnx "$cache/$m.onnx" --workload "$wl" \
      --threads $threads --repeat $repeat --warmup 1 | jq -c --arg m "$m" '. + {model: $m}' >> "$lines"
    echo "pytorch $m $w" >&2
    "$py" "$root/bench/embed/torch_bench.py" --workload "$wl" --threads $threads \
      --repeat $repeat --warmup 1 | jq -c --arg m "$m" '. + {model: $m}' >> "$lines"
  done
done

# Anchors' GFLOP/s from Quarry's count of the same work (padding excluded), each
# engine's share of the peak of its precision, and Quarry's speed-ups.
jq -s --arg cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" \
      --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --argjson threads $threads '
  (map(select(.peak_fp32_gflops)) | first) as $peak
  | (map(select(.engine == "quarry" and .precision == "fp32"))
     | map({key: (.model + "/" + .workload), value: .macs}) | from_entries) as $macs
  | map(. + {gflops: (if .gflops then .gflops else 2 * $macs[.model + "/" + .workload] / .seconds / 1e9 end)})
  | map(. + {peak_share: (.gflops / (if .precision == "int8" then $peak.peak_int8_gops
                                     elif .precision == "bf16" then ($peak.peak_bf16_gflops // (2 * $peak.peak_fp32_gflops))
                                     else $peak.peak_fp32_gflops end))})
  | . as $rows
  | {
      benchmark: "embed",
      machine: {cpu: $cpu, threads: $threads, date: $date,
                peak_fp32_gflops: $peak.peak_fp32_gflops, peak_int8_gops: $peak.peak_int8_gops,
                peak_bf16_gflops: $peak.peak_bf16_gflops},
      note: "random weights with the real models shapes; same token ids for every engine; ms_per_item from the median pass",
      results: $rows,
      speedups: [ $rows | group_by(.model + "/" + .workload)[]
        | (map(select(.engine == "onnxruntime")) | first) as $ort
        | (map(select(.engine == "pytorch")) | first) as $pt
        | map(select(.engine == "quarry"))[]
        | {model, workload, precision, ms_per_item,
           vs_onnxruntime_fp32: (if $ort then $ort.ms_per_item / .ms_per_item else null end),
           vs_pytorch_fp32: (if $pt then $pt.ms_per_item / .ms_per_item else null end)} ]
    }' "$lines" > "$out"
echo "wrote $out" >&2
# The GEMM choice: oneDNN (ours) against OpenBLAS sgemm on the same shapes.
gemm="$build/src/model/quarry_gemm_bench"
if [ $quick = 0 ] && [ -x "$gemm" ]; then
  "$gemm" --benchmark_min_time=0.3 --benchmark_out="$root/bench/results/gemm.json" \
    --benchmark_out_format=json >/dev/null
  echo "wrote $root/bench/results/gemm.json" >&2
fi
jq -r '.speedups[] | "\(.model) \(.workload) \(.precision): \(.ms_per_item | .*1000|round/1000) ms/item, \(.vs_onnxruntime_fp32 | .*100|round/100)x ORT fp32"' "$out" >&2
