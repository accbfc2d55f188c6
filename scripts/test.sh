#!/usr/bin/env bash
# The whole test suite, as CI runs it. Installs what the tests need when it is missing:
#   redis-server           Debian package (apt-get)
#   awscli, python3-boto3  Debian packages (apt-get): S3 clients of the S3 listener's tests
#   minio, versitygw       real S3 servers, built once at pinned versions into a cache folder
#   toxiproxy-server       Shopify's fault-injecting TCP proxy, same cache folder
#   staticcheck            linter, same cache folder
#   govulncheck            known-vulnerability check of the module's dependencies, same folder
#   mc                     MinIO's client, an S3 client of the S3 listener's tests, same folder
#   chromium, playwright-core  the real-browser test (scripts/browser-deps.sh: apt and npm ci)
#   tus-js-client          the tus client tests, Node and browser (scripts/tus-deps.sh: npm ci)
# The cache folder is $AG_BIN_DIR, default ~/.cache/assetgateway/bin (outside the repo).
# Extra arguments go to `go test` (e.g. scripts/test.sh -run Redis -v).
#
# After the tests, every fuzz target runs for $AG_FUZZTIME (default 10s; 0 skips the step).
# A failing input is written to the package's testdata/fuzz/<FuzzName>/: commit it, and it
# runs with every `go test` from then on. govulncheck needs its database (vuln.go.dev, or a
# local copy given as AG_VULNDB=file:///path); when it cannot be reached the step says so and
# goes on, while a vulnerability it finds fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

export AG_BIN_DIR="${AG_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/assetgateway/bin}"
MINIO=github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c
VERSITYGW=github.com/versity/versitygw/cmd/versitygw@v1.8.0
STATICCHECK=honnef.co/go/tools/cmd/staticcheck@v0.8.2
TOXIPROXY=github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0
GOVULNCHECK=golang.org/x/vuln/cmd/govulncheck@v1.9.0
MC=github.com/minio/mc@v0.0.0-20250313080218-cf909e1063a9

step() { printf '\n== %s (at %ds)\n' "$*" "$SECONDS"; }

apt_missing=()
command -v redis-server >/dev/null || apt_missing+=(redis-server)
# Debian's own aws CLI and boto3, by path: a pyenv aws earlier on PATH is another client.
[ -x /usr/bin/aws ] || apt_missing+=(awscli)
/usr/bin/python3 -c 'import boto3' 2>/dev/null || apt_missing+=(python3-boto3)
if [ ${#apt_missing[@]} -gt 0 ]; then
  step "installing ${apt_missing[*]} (apt)"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${apt_missing[@]}" >/dev/null
fi

# go_tool NAME MODULE@VERSION: build into the cache as NAME unless that exact version is
# there. The binary is built in a scratch folder and moved, so a command whose binary comes
# out under another name (toxiproxy's "server") lands under NAME.
go_tool() {
  local name=$1 mod=$2 stamp="$AG_BIN_DIR/.$1.version" tmp built
  if [ -x "$AG_BIN_DIR/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$mod" ]; then return; fi
  step "building $mod into $AG_BIN_DIR (once; reused afterwards)"
  tmp=$(mktemp -d)
  GOBIN="$tmp" GOFLAGS=-mod=mod go install "$mod"
  built=$(find "$tmp" -type f | head -n 1)
  mv -f "$built" "$AG_BIN_DIR/$name"
  rm -rf "$tmp"
  echo "$mod" >"$stamp"
}
mkdir -p "$AG_BIN_DIR"
go_tool minio "$MINIO"
go_tool versitygw "$VERSITYGW"
go_tool toxiproxy-server "$TOXIPROXY"
go_tool staticcheck "$STATICCHECK"
go_tool govulncheck "$GOVULNCHECK"
go_tool mc "$MC"
# Debian's chromium and the pinned playwright-core for the real-browser test.
scripts/browser-deps.sh
# The pinned tus-js-client, for Node and for the page of the browser test.
scripts/tus-deps.sh

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change:"; echo "$unformatted"; exit 1; fi
step "go vet"
go vet ./...
step "staticcheck"
"$AG_BIN_DIR/staticcheck" ./...
step "go test -race"
export AG_ARTIFACTS_DIR="${AG_ARTIFACTS_DIR:-${TMPDIR:-/tmp}/assetgateway-artifacts}"
go test -race -count=1 -timeout 15m "$@" ./...
if [ -f "$AG_ARTIFACTS_DIR/TestBrowser.png" ]; then
  echo "browser test screenshot: $AG_ARTIFACTS_DIR/TestBrowser.png"
fi

fuzztime="${AG_FUZZTIME:-10s}"
# fuzz_one runs one target. Go 1.26's fuzz coordinator can fail a target with a bare
# "context deadline exceeded" at the -fuzztime boundary having found nothing
# (golang/go#75804, fixed in Go 1.27): a run that fails that way and writes no failing
# input is tried again, twice at most. A run that writes a failing input fails at once.
corpus_size() { if [ -d "$1" ]; then find "$1" -type f | wc -l; else echo 0; fi; }
fuzz_one() {
  local dir=$1 target=$2 corpus="$1/testdata/fuzz/$2" out before attempt rc
  out=$(mktemp)
  for attempt in 1 2 3; do
    before=$(corpus_size "$corpus")
    set +e
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 1s "./$dir" 2>&1 | tee "$out"
    rc=${PIPESTATUS[0]}
    set -e
    [ "$rc" -eq 0 ] && break
    if [ "$(corpus_size "$corpus")" -ne "$before" ] ||
      ! grep -q '^    context deadline exceeded$' "$out" || [ "$attempt" -eq 3 ]; then
      rm -f "$out"
      return "$rc"
    fi
    echo "fuzz: $target stopped on Go's fuzztime race (golang/go#75804), no failing input: again"
  done
  rm -f "$out"
}
if [ "$fuzztime" != "0" ]; then
  # -fuzzminimizetime bounds the shrinking of each new interesting input, which otherwise
  # may take up to a minute and eat the whole budget.
  # The targets are found in the sources: asking `go test -list` would build every
  # package's test binary once more just to list them.
  for dir in $(grep -l '^func Fuzz' internal/*/*_test.go | xargs -n1 dirname | sort -u); do
    for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go | cut -c6-); do
      step "fuzz ./$dir $target ($fuzztime)"
      fuzz_one "$dir" "$target"
    done
  done
fi

step "govulncheck"
vulndb=()
[ -n "${AG_VULNDB:-}" ] && vulndb=(-db "$AG_VULNDB")
vulnout=$(mktemp)
set +e
"$AG_BIN_DIR/govulncheck" "${vulndb[@]}" ./... >"$vulnout" 2>&1
vulnrc=$?
set -e
cat "$vulnout"
if [ "$vulnrc" -ne 0 ]; then
  if grep -q 'fetching vulnerabilities' "$vulnout"; then
    echo "govulncheck: NOT CHECKED: the vulnerability database cannot be reached from here" \
      "(set AG_VULNDB=file:///path to a local copy)"
  else
    rm -f "$vulnout"
    exit "$vulnrc"
  fi
fi
rm -f "$vulnout"
