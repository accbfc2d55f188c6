#!/usr/bin/env bash
# What e2e/browser_test.go needs, installed when missing; silent when everything is in place.
#   chromium        Debian's package (apt-get), at /usr/bin/chromium
#   a CJK font      fonts-wqy-microhei (1.6 MB), only so that the screenshot shows the test's
#                   Chinese file name instead of empty boxes; the test passes without it
#   playwright-core e2e/browser/node_modules, by `npm ci` from the committed package-lock.json,
#   @uppy/core,     re-run whenever the lock file changes (a stamp in node_modules records it);
#   @uppy/aws-s3    the Uppy packages (pinned 6.3.1) are what e2e/uppy_test.go's page runs
# Nothing here downloads a browser: PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 and --ignore-scripts.
# Node.js (>= 20) and npm must already be installed.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=()
[ -x /usr/bin/chromium ] || packages+=(chromium)
if ! command -v fc-list >/dev/null || [ -z "$(fc-list :lang=zh family)" ]; then packages+=(fonts-wqy-microhei); fi
if [ ${#packages[@]} -gt 0 ]; then
  echo "== installing ${packages[*]} (apt)"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  if ! out=$(DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" 2>&1); then
    echo "$out" >&2
    echo "scripts/browser-deps.sh: apt-get install ${packages[*]} failed" >&2
    exit 1
  fi
fi

dir=e2e/browser
# The stamp format is shared with e2e/browser_test.go, which refuses to run with a stale one.
stamp="$dir/node_modules/.assetgateway-lock-sha256"
want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  for tool in node npm; do
    if ! command -v "$tool" >/dev/null; then
      echo "scripts/browser-deps.sh: $tool not found: install Node.js 20 or later with npm" >&2
      exit 1
    fi
  done
  echo "== npm ci in $dir (playwright-core, @uppy/core, @uppy/aws-s3; no browser download)"
  (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$want" >"$stamp"
fi
