#!/usr/bin/env bash
# Installs every real component bgpvs's tests and lab need, on Debian 12 as root.
# Idempotent and cached: builds go to $BGPVS_CACHE (default ~/.cache/bgpvs), outside
# the clone, so a second run (or a fresh clone on the same machine) is fast.
#
#   scripts/setup.sh            everything
#   scripts/setup.sh apt|go|kernel|npm   one part
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../versions.env
source "$ROOT/versions.env"
CACHE=${BGPVS_CACHE:-$HOME/.cache/bgpvs}
mkdir -p "$CACHE/bin" "$CACHE/stamps"
log() { printf '[setup %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

need_root() {
  if [ "$(id -u)" != 0 ]; then log "must run as root (apt-get, network namespaces)"; exit 1; fi
}

setup_apt() {
  local missing=()
  for p in $APT_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then log "apt: all packages present"; return; fi
  need_root
  log "apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The lab starts its own routers in namespaces; the packaged system services are not used.
  for s in frr bird; do systemctl disable --now "$s" >/dev/null 2>&1 || true; done
}

# go_build NAME VERSION MODULE PACKAGE [REPLACES] [LDFLAGS]: builds PACKAGE (of MODULE) at
# VERSION in a throwaway module under the cache and installs it as $CACHE/bin/NAME-VERSION.
go_build() {
  local name=$1 version=$2 module=$3 pkg=$4 ldflags=${6:-}
  local out="$CACHE/bin/$name-$version"
  if [ -x "$out" ]; then log "go: $name $version cached"; ln -sfn "$out" "$CACHE/bin/$name"; return; fi
  local dir="$CACHE/build/$name-$version"
  rm -rf "$dir"; mkdir -p "$dir"
  ( cd "$dir"
    go mod init "bgpvs.local/build/$name" >/dev/null 2>&1
    if [ -n "${5:-}" ]; then printf '%s\n' "$5" >> go.mod; fi
    # go get on the package (not just the module) records every dependency it imports.
    go get "$pkg@$version" >/dev/null 2>&1 || go get "$pkg@$version"
    log "go: building $name $version ($pkg)"
    CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out.tmp" "$pkg"
  )
  mv "$out.tmp" "$out"
  ln -sfn "$out" "$CACHE/bin/$name"
  log "go: built $out"
}

# k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with local
# paths; a consumer must pin each to the matching v0.X.Y release instead.
k8s_replaces() {
  local gomod minor
  gomod=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  minor=${KUBERNETES_VERSION#v1.}
  echo "replace ("
  sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*#\1#p' "$gomod" | while read -r m; do
    echo "  $m => $m v0.$minor"
  done
  echo ")"
}

setup_go() {
  command -v go >/dev/null || { log "go toolchain not found"; exit 1; }
  go_build gobgpd "$GOBGP_VERSION" github.com/osrg/gobgp/v4 github.com/osrg/gobgp/v4/cmd/gobgpd
  go_build gobgp "$GOBGP_VERSION" github.com/osrg/gobgp/v4 github.com/osrg/gobgp/v4/cmd/gobgp
  # crictl for the image's default --pod-netns=crictl; stripped (-s -w): it only ships in the image.
  go_build crictl "$CRICTL_VERSION" sigs.k8s.io/cri-tools sigs.k8s.io/cri-tools/cmd/crictl "" \
    "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION"
  go_build etcd "$ETCD_VERSION" go.etcd.io/etcd/server/v3 go.etcd.io/etcd/server/v3
  if [ ! -x "$CACHE/bin/kube-apiserver-$KUBERNETES_VERSION" ]; then
    # Stamp the version the way Kubernetes' own build does, so /version reports it.
    local minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
    local vpkg=k8s.io/component-base/version
    go_build kube-apiserver "$KUBERNETES_VERSION" k8s.io/kubernetes k8s.io/kubernetes/cmd/kube-apiserver "$(k8s_replaces)" \
      "-X $vpkg.gitVersion=$KUBERNETES_VERSION -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor -X $vpkg.gitTreeState=clean"
  else
    go_build kube-apiserver "$KUBERNETES_VERSION" - -
  fi
  # GoBGP's .proto files, from the very module version built above.
  local src dst="$CACHE/proto/gobgp-$GOBGP_VERSION"
  # They import each other as "api/x.proto", so they live in $dst/api/.
  if [ ! -f "$dst/api/gobgp.proto" ]; then
    src=$(go mod download -json "github.com/osrg/gobgp/v4@$GOBGP_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
    rm -rf "$dst"; mkdir -p "$dst/api"
    cp "$src"/proto/api/*.proto "$dst/api/"
    chmod -R u+w "$dst"
  fi
  ln -sfn "$dst" "$CACHE/proto/gobgp"
  log "go: gobgp protos in $dst"
}

setup_kernel() {
  local kpkg dir
  kpkg=$(apt-cache depends "$KERNEL_METAPACKAGE" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n1)
  if [ -z "$kpkg" ]; then need_root; apt-get update -qq; kpkg=$(apt-cache depends "$KERNEL_METAPACKAGE" | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n1); fi
  dir="$CACHE/kernel/$kpkg"
  if [ ! -f "$dir/.unpacked" ]; then
    log "kernel: fetching $kpkg"
    rm -rf "$dir"; mkdir -p "$dir/deb"
    ( cd "$dir/deb" && apt-get download "$kpkg" >/dev/null )
    dpkg -x "$dir"/deb/*.deb "$dir/root"
    rm -rf "$dir/deb"
    touch "$dir/.unpacked"
  fi
  ln -sfn "$dir" "$CACHE/kernel/current"
  log "kernel: $kpkg in $dir"
}

setup_npm() {
  local stamp="$CACHE/stamps/npm-$(sha256sum "$ROOT/package-lock.json" | cut -c1-16)"
  if [ -d "$ROOT/node_modules" ] && [ -f "$ROOT/node_modules/.bgpvs-stamp" ] && \
     [ "$(cat "$ROOT/node_modules/.bgpvs-stamp")" = "$stamp" ]; then
    log "npm: node_modules up to date"; return
  fi
  log "npm: installing"
  ( cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error --cache "$CACHE/npm" )
  echo "$stamp" > "$ROOT/node_modules/.bgpvs-stamp"
}

parts=("$@"); [ ${#parts[@]} -gt 0 ] || parts=(apt kernel go npm)
for p in "${parts[@]}"; do
  case "$p" in
    apt) setup_apt ;; go) setup_go ;; kernel) setup_kernel ;; npm) setup_npm ;;
    *) log "unknown part: $p"; exit 2 ;;
  esac
done
