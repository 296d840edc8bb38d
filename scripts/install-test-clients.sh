#!/usr/bin/env bash
# Installs the official client libraries the client tests drive (tests/clients:
# `openai` and `@qdrant/js-client-rest`, pinned in package.json and
# package-lock.json) into tests/clients/node_modules with `npm ci`.
#
# Idempotent and fast when nothing changed: a stamp in node_modules records the
# lock file it was installed from. Never fails the build for a missing node,
# npm or registry: it says so and the test skips itself (exit 77 in ctest).
# Usage: scripts/install-test-clients.sh [--strict]   (--strict: fail instead)
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/tests/clients"
stamp="$dir/node_modules/.quarry-installed-lock"
strict=0
[ "${1:-}" = "--strict" ] && strict=1

give_up() {
  echo "install-test-clients: $*; quarry_clients_test will be skipped" >&2
  exit $strict
}

command -v node >/dev/null 2>&1 || give_up "node is not installed (scripts/install-deps.sh build installs nodejs)"
command -v npm >/dev/null 2>&1 || give_up "npm is not installed (scripts/install-deps.sh build installs npm)"

want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0  # already installed from this lock file
fi

echo "install-test-clients: npm ci in $dir" >&2
# --ignore-scripts: both clients are plain JavaScript; nothing needs building.
if ! (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2); then
  rm -rf "$dir/node_modules"
  give_up "npm ci failed (no registry access?)"
fi
echo "$want" >"$stamp"
echo "install-test-clients: installed $(cd "$dir" && node -p '
  Object.entries(require("./package.json").dependencies).map(([n, v]) => n + "@" + v).join(", ")')" >&2
