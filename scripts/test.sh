#!/usr/bin/env bash
# Runs bgpvs's test tiers. `all` = setup, lint, typecheck, then unit, integration, vm, e2e.
#   unit         pure modules, unprivileged, fast
#   integration  real nft, gobgpd, FRR, BIRD, kube-apiserver in throwaway network namespaces (root)
#   vm           real IPVS inside a qemu VM on Debian's stock kernel (root)
#   e2e          the whole agent in the lab topology against a real kube-apiserver (root)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
tier=${1:-all}
summary=$(mktemp)
times=$(mktemp)
trap 'rm -f "$summary" "$times"' EXIT
status=0

run_tier() {
  local name=$1 conc=$2; shift 2
  local files=()
  for f in test/"$name"/*.test.ts; do [ -e "$f" ] && files+=("$f"); done
  if [ ${#files[@]} -eq 0 ]; then echo "== $name: no test files"; return 0; fi
  if [ "$name" != unit ] && [ "$(id -u)" != 0 ]; then
    echo "== $name: SKIPPED — needs root (network namespaces, nft, qemu); run as root to include it"
    return 0
  fi
  echo "== $name: ${#files[@]} files"
  local t0=$SECONDS
  local out; out=$(mktemp)
  node --import tsx --test --test-concurrency="$conc" --test-reporter=spec "$@" "${files[@]}" 2>&1 | tee "$out"
  local rc=${PIPESTATUS[0]}
  for k in pass fail skipped; do
    printf '%s %s\n' "$k" "$(sed -n "s/^ℹ $k \([0-9]*\)$/\1/p" "$out" | tail -n1)" >> "$summary"
  done
  rm -f "$out"
  printf '%s %ss\n' "$name" "$((SECONDS - t0))" >> "$times"
  [ "$rc" = 0 ] || { echo "== $name: FAILED (exit $rc)"; status=1; }
}

if [ "$tier" = all ] || [ "${BGPVS_SKIP_SETUP:-}" != 1 ]; then
  bash scripts/setup.sh || { echo "setup failed"; exit 1; }
fi
export BGPVS_CACHE=${BGPVS_CACHE:-$HOME/.cache/bgpvs}
# The tests and the lab start the agent as users do: the compiled CLI (bin/bgpvs.js → dist/).
echo "== build (src/ → dist/, bundled)"
rm -rf dist
npm run --silent build || { echo "build failed"; exit 1; }

case "$tier" in
  all)
    echo "== lint"; npx eslint . || status=1
    echo "== typecheck"; npx tsc -p tsconfig.json --noEmit || status=1
    run_tier unit 2
    run_tier integration 1
    run_tier vm 1
    run_tier e2e 1
    ;;
  unit) run_tier unit 2 ;;
  integration|vm|e2e) run_tier "$tier" 1 ;;
  *) echo "unknown tier: $tier"; exit 2 ;;
esac

echo "== time per tier: $(tr '\n' ' ' < "$times")(total ${SECONDS}s)"
p=$(awk '$1=="pass"{s+=$2} END{print s+0}' "$summary")
f=$(awk '$1=="fail"{s+=$2} END{print s+0}' "$summary")
s=$(awk '$1=="skipped"{s+=$2} END{print s+0}' "$summary")
[ "$status" = 0 ] || [ "$f" != 0 ] || f=1
echo "tests: $p passed, $f failed, $s skipped"
exit $status
