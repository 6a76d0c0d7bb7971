#!/usr/bin/env bash
# Counts good boots of the test VM: N boots (default 10), each running the guest's node
# start-up and the compiled guest probe (test/rig/vm-boots.ts); prints crashes/boots.
# Needs root, qemu and the kernel from scripts/setup.sh. On a shared machine run it under
#   flock /tmp/bgpvs-heavy.lock scripts/vm-boots.sh 15
# Env: BGPVS_VM_CPU (qemu -cpu, default the rig's), BGPVS_VM_CPUS (default 2).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export BGPVS_CACHE=${BGPVS_CACHE:-$HOME/.cache/bgpvs}
exec node --import tsx test/rig/vm-boots.ts "${1:-10}"
