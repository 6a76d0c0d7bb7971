#!/usr/bin/env bash
# The README's main command: install everything (cached), then bring the lab up or down.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
case "${1:-up}" in
  up) bash scripts/setup.sh; node bin/bgpvs.js lab up ;;
  down) node bin/bgpvs.js lab down ;;
  status) node bin/bgpvs.js lab status ;;
  *) echo "usage: scripts/lab.sh up|down|status"; exit 2 ;;
esac
