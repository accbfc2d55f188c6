#!/usr/bin/env bash
# The whole test suite, as CI runs it. Installs what the tests need when it is missing:
#   redis-server           Debian package (apt-get)
#   minio, versitygw       real S3 servers, built once at pinned versions into a cache folder
#   staticcheck            linter, same cache folder
# The cache folder is $AG_BIN_DIR, default ~/.cache/assetgateway/bin (outside the repo).
# Extra arguments go to `go test` (e.g. scripts/test.sh -run Redis -v).
set -euo pipefail
cd "$(dirname "$0")/.."

export AG_BIN_DIR="${AG_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/assetgateway/bin}"
MINIO=github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c
VERSITYGW=github.com/versity/versitygw/cmd/versitygw@v1.8.0
STATICCHECK=honnef.co/go/tools/cmd/staticcheck@v0.8.2

step() { printf '\n== %s\n' "$*"; }

if ! command -v redis-server >/dev/null; then
  step "installing redis-server (apt)"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null
fi

# go_tool NAME MODULE@VERSION: build into the cache unless that exact version is there.
go_tool() {
  local name=$1 mod=$2 stamp="$AG_BIN_DIR/.$1.version"
  if [ -x "$AG_BIN_DIR/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$mod" ]; then return; fi
  step "building $mod into $AG_BIN_DIR (once; reused afterwards)"
  GOBIN="$AG_BIN_DIR" GOFLAGS=-mod=mod go install "$mod"
  echo "$mod" >"$stamp"
}
mkdir -p "$AG_BIN_DIR"
go_tool minio "$MINIO"
go_tool versitygw "$VERSITYGW"
go_tool staticcheck "$STATICCHECK"

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change:"; echo "$unformatted"; exit 1; fi
step "go vet"
go vet ./...
step "staticcheck"
"$AG_BIN_DIR/staticcheck" ./...
step "go test -race"
go test -race -count=1 -timeout 15m "$@" ./...
