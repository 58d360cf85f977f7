#!/usr/bin/env bash
# The project's test command (README "Quick start"): formatting, go.mod
# tidiness, vet, a cross-compile of every release target, and the whole
# test suite under the race detector. When a private Secret Service can be
# started (gnome-keyring, dbus), the keychain backend tests run against it; CREDFLOW_TEST_KEYCHAIN=1 makes its absence
# a failure instead of a skip (CI sets it).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi

echo "== go mod tidy"
if ! go mod tidy -diff; then
  echo "go.mod/go.sum are not tidy: run 'go mod tidy'" >&2
  exit 1
fi

echo "== go vet"
go vet ./...

echo "== cross-compile (release targets)"
for target in linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64; do
  GOOS=${target%/*} GOARCH=${target#*/} CGO_ENABLED=0 go build -o /dev/null ./cmd/credflow
done

echo "== go test -race"
if [ "$(go env CGO_ENABLED)" != 1 ] || ! command -v "$(go env CC)" >/dev/null; then
  echo "the race detector needs cgo and a C compiler: apt-get install -y gcc (and CGO_ENABLED=1)" >&2
  exit 1
fi
if command -v dbus-run-session >/dev/null && command -v gnome-keyring-daemon >/dev/null; then
  export CREDFLOW_TEST_KEYCHAIN=${CREDFLOW_TEST_KEYCHAIN:-1}
  scripts/with-secret-service.sh go test -race -count=1 "$@" ./...
else
  if [ "${CREDFLOW_TEST_KEYCHAIN:-}" = 1 ]; then
    echo "CREDFLOW_TEST_KEYCHAIN=1 but gnome-keyring/dbus are not installed: apt-get install -y gnome-keyring dbus libsecret-tools" >&2
    exit 1
  fi
  echo "note: gnome-keyring/dbus not installed; keychain backend tests will be skipped" >&2
  go test -race -count=1 "$@" ./...
fi
