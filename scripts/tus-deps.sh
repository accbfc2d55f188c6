#!/usr/bin/env bash
# What e2e/tus_test.go and e2e/browser_test.go need of tus-js-client, installed when missing;
# silent when everything is in place.
#   tus-js-client   e2e/tus/node_modules, by `npm ci` from the committed package-lock.json (npm
#                   takes it from its cache outside the repository when it can), re-run whenever
#                   the lock file changes (a stamp in node_modules records it)
# Node.js (>= 20) and npm must already be installed.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=e2e/tus
# The stamp format is shared with e2e/tus_test.go, which refuses to run with a stale one.
stamp="$dir/node_modules/.assetgateway-lock-sha256"
want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  for tool in node npm; do
    if ! command -v "$tool" >/dev/null; then
      echo "scripts/tus-deps.sh: $tool not found: install Node.js 20 or later with npm" >&2
      exit 1
    fi
  done
  echo "== npm ci in $dir (tus-js-client)"
  (cd "$dir" && npm ci --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$want" >"$stamp"
fi
