#!/usr/bin/env bash
# Regenerates internal/pricing/prices.json, the price and context-window
# table embedded in credflow, from a models.dev catalogue. This is the way
# to refresh prices: download a newer file (models.dev's api.json, or a
# snapshot in the format of ../shared/data/models-dev.json) and pass it:
#
#   scripts/gen-pricing.sh                       # ../shared/data/models-dev.json
#   scripts/gen-pricing.sh ~/Downloads/api.json  # a newer catalogue
#
# Extra arguments go to the generator (e.g. -providers openai,anthropic).
# Review the diff of internal/pricing/prices.json before committing it; the
# data is MIT licensed (internal/pricing/models-dev.LICENSE stays next to
# it). credflow never fetches prices at run time.
set -euo pipefail
in=${1:-}
[ $# -gt 0 ] && shift
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "$in" ]; then
  in="$root/../shared/data/models-dev.json"
elif [[ "$in" != /* ]]; then
  in="$PWD/$in" # relative to where the script was run from
fi
if [ ! -f "$in" ]; then
  echo "gen-pricing.sh: $in: no such file (usage: scripts/gen-pricing.sh [models.dev JSON] [generator flags])" >&2
  exit 1
fi
cd "$root"
go run ./scripts/gen-pricing -in "$in" -out internal/pricing/prices.json "$@"
