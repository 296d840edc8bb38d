#!/usr/bin/env bash
# CTest driver of the official-clients test: starts `quarry serve` on a free
# port with a tiny random model, runs the Node tests (OpenAI and Qdrant JS
# clients) against it, then stops the server with SIGTERM (it must exit 0).
#
# Usage: tests/clients/run_clients_test.sh QUARRY_BINARY
# Exit: 0 passed, 1 failed, 77 skipped (no node, no node_modules, no numpy):
# CMake registers 77 as SKIP_RETURN_CODE. Install the clients with
# scripts/install-test-clients.sh (`make test-release` runs it).
set -uo pipefail

SKIP=77
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
quarry="${1:?usage: run_clients_test.sh QUARRY_BINARY}"
python=/usr/bin/python3

skip() {
  echo "SKIPPED: $*"
  exit $SKIP
}

[ -x "$quarry" ] || { echo "FAILED: $quarry is not an executable"; exit 1; }
command -v node >/dev/null 2>&1 || skip "node is not installed (Debian: nodejs; scripts/install-deps.sh build)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] 2>/dev/null || skip "node $(node --version) is too old; the pinned clients need node >= 20"
# Every pinned dependency must be installed at its pinned version.
if ! stale="$(cd "$here" && node -e '
  const fs = require("fs");
  const want = JSON.parse(fs.readFileSync("package.json", "utf8")).dependencies;
  const bad = [];
  for (const [name, version] of Object.entries(want)) {
    let have = "missing";
    try { have = JSON.parse(fs.readFileSync(`node_modules/${name}/package.json`, "utf8")).version; } catch {}
    if (have !== version) bad.push(`${name} ${have} (want ${version})`);
  }
  if (bad.length) { console.log(bad.join(", ")); process.exit(1); }
' 2>&1)"; then
  skip "tests/clients/node_modules is absent or out of date (${stale}); run scripts/install-test-clients.sh"
fi
"$python" -c 'import numpy' >/dev/null 2>&1 || skip "$python with numpy is needed to generate the tiny model"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/quarry_clients.XXXXXX")"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
  echo "FAILED: $*"
  if [ -s "$tmp/stderr" ]; then
    echo "--- quarry serve stderr (last 40 lines) ---"
    tail -n 40 "$tmp/stderr"
  fi
  exit 1
}

model_id=tiny-bert
model_dim=32
"$python" "$root/tools/make_tiny_model.py" --out "$tmp/$model_id" --preset tiny-bert >"$tmp/make_model.log" 2>&1 ||
  fail "tools/make_tiny_model.py failed: $(cat "$tmp/make_model.log")"

# --dimensions-model lets `dimensions` below the model size truncate.
QUARRY_LOG=quiet "$quarry" serve --port 0 --data "$tmp/data" --model "$tmp/$model_id" \
  --dimensions-model "$model_id" --workers 2 >"$tmp/stdout" 2>"$tmp/stderr" &
server_pid=$!

port=""
for _ in $(seq 1 600); do  # 60 s
  line="$(grep -m1 'listening on http://' "$tmp/stdout" 2>/dev/null)"
  if [ -n "$line" ]; then
    port="${line##*:}"
    break
  fi
  kill -0 "$server_pid" 2>/dev/null || fail "quarry serve exited before listening"
  sleep 0.1
done
[[ "$port" =~ ^[0-9]+$ ]] || fail "no 'listening on' line from quarry serve within 60 s: $(cat "$tmp/stdout")"
echo "quarry serve pid $server_pid on port $port; node $(node --version)"

export QUARRY_URL="http://127.0.0.1:$port" QUARRY_MODEL="$model_id" QUARRY_DIM="$model_dim"
status=0
for test_file in openai_embeddings.test.mjs qdrant_collections.test.mjs qdrant_points.test.mjs; do
  echo "=== node $test_file"
  (cd "$here" && node --test-reporter=spec "$test_file") || status=1
done

kill -TERM "$server_pid"
# Give it 60 s to drain and close (a zombie has exited; only `wait` reaps it).
for _ in $(seq 1 600); do
  state="$(awk '{print $3}' "/proc/$server_pid/stat" 2>/dev/null)"
  [ -z "$state" ] || [ "$state" = Z ] && break
  sleep 0.1
done
[ "$state" = Z ] || [ -z "$state" ] || fail "quarry serve did not exit within 60 s of SIGTERM"
wait "$server_pid"
server_status=$?
server_pid=""
[ $server_status -eq 0 ] || fail "quarry serve exited with $server_status after SIGTERM (expected 0)"
[ $status -eq 0 ] || fail "node client tests failed (see above)"
echo "PASSED: OpenAI and Qdrant JS clients against quarry serve"
