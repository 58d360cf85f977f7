#!/usr/bin/env bash
# Regenerates completions/ from the cobra command tree. Run it after adding
# or changing a command or flag; TestCompletionsUpToDate fails until you do.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p completions
bin=$(mktemp -d)/credflow
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" ./cmd/credflow
"$bin" completion bash > completions/credflow.bash
"$bin" completion zsh > completions/_credflow
"$bin" completion fish > completions/credflow.fish
"$bin" completion powershell > completions/credflow.ps1
echo "completions/ regenerated"
