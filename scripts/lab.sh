#!/usr/bin/env bash
# The README's main command: install everything (cached), then bring the lab up or down.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
case "${1:-up}" in
  up) bash scripts/setup.sh; npm run --silent build; node --import tsx lab/main.ts up ;;
  down) node --import tsx lab/main.ts down ;;
  status) node --import tsx lab/main.ts status ;;
  *) echo "usage: scripts/lab.sh up|down|status"; exit 2 ;;
esac
