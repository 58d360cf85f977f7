#!/usr/bin/env bash
# Measures credflow's gateway overhead against a direct call, in one run:
# see cmd/credflow-bench. Extra flags go to the bench tool, e.g.
#   scripts/bench.sh -duration 10s -rate 2000
#   scripts/bench.sh -phases closed,open -cpuprofile /tmp/credflow.prof   # then: go tool pprof
# Go micro-benchmarks of the hot spots:
#   go test -bench . ./internal/h1 ./internal/gateway ./internal/provider ./internal/jsonx ./internal/translate ./internal/keys ./pkg/llmapi ./internal/ledger
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/credflow" ./cmd/credflow
go build -o "$tmp/credflow-bench" ./cmd/credflow-bench
"$tmp/credflow-bench" -bin "$tmp/credflow" "$@"
