#!/usr/bin/env bash
# Build the test cluster's binaries once per version, into a cache outside the
# repository. Everything comes from the Go module proxy, pinned by the
# go.mod/go.sum files in go/.
#
#   bash deploy/kubernetes/kube-build.sh             # prints the bin directory
#   bash deploy/kubernetes/kube-build.sh real-node   # tier B (kube-real-node.sh): prints bin-real
#
#   (default)   bin/: etcd, etcdctl, kube-apiserver, kube-controller-manager,
#               kube-scheduler (k8s.io/kubernetes) and kwok
#   real-node   bin-real/: kubelet, containerd, containerd-shim-runc-v2, ctr
#
# Settings (environment):
#   SWITCHYARD_KUBE_CACHE   cache directory (default /var/cache/switchyard/kubernetes-<version>)
#
# Reuses a bin directory when its stamp matches the versions and the go.mod/go.sum
# files it was built from; otherwise builds into a temporary directory and moves
# it in place, so an interrupted build never leaves a half cache. Concurrent
# callers wait on a lock.
set -euo pipefail

# All in one function, run on the last line: bash has then read the whole file,
# so editing it (a checkout) while a build runs cannot derail the build.
main() {
  local target=${1:-cluster}
  HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  # shellcheck disable=SC1091
  . "$HERE/versions.env"
  CACHE=${SWITCHYARD_KUBE_CACHE:-/var/cache/switchyard/kubernetes-$KUBE_VERSION}

  log() { echo "kube-build: $*" >&2; }
  die() { log "error: $*"; exit 1; }

  local modules binaries
  case "$target" in
    cluster)
      BIN="$CACHE/bin" modules=(kubernetes etcd kwok)
      binaries=(etcd etcdctl kube-apiserver kube-controller-manager kube-scheduler kwok)
      stamp=$( { echo "$KUBE_VERSION $ETCD_VERSION $KWOK_VERSION"; for m in "${modules[@]}"; do cat "$HERE/go/$m/go.mod" "$HERE/go/$m/go.sum"; done; } | sha256sum | cut -c1-16) ;;
    real-node)
      BIN="$CACHE/bin-real" modules=(kubelet containerd)
      binaries=(kubelet containerd containerd-shim-runc-v2 ctr)
      stamp=$( { echo "$KUBE_VERSION $CONTAINERD_VERSION"; for m in "${modules[@]}"; do cat "$HERE/go/$m/go.mod" "$HERE/go/$m/go.sum"; done; } | sha256sum | cut -c1-16) ;;
    *) die "unknown target $target (cluster or real-node)" ;;
  esac

  built() {
    [ "$(cat "$BIN/.stamp" 2>/dev/null)" = "$stamp" ] || return 1
    local b; for b in "${binaries[@]}"; do [ -x "$BIN/$b" ] || return 1; done
  }
  # kwok's CRDs (kube-up.sh installs the Logs one), copied from the module source
  # into the cache, not into the repository. Cheap: the module is in GOMODCACHE.
  share() {
    [ "$target" = cluster ] || return 0
    [ -f "$CACHE/share/kwok-crds/kwok.x-k8s.io_logs.yaml" ] && return 0
    local src
    src=$(cd "$HERE/go/kwok" && go mod download -json sigs.k8s.io/kwok | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')
    [ -d "$src/kustomize/crd/bases" ] || die "no kwok source in the module cache"
    rm -rf "$CACHE/share/kwok-crds.tmp" && mkdir -p "$CACHE/share/kwok-crds.tmp"
    cp "$src"/kustomize/crd/bases/*.yaml "$CACHE/share/kwok-crds.tmp/"
    mv "$CACHE/share/kwok-crds.tmp" "$CACHE/share/kwok-crds"
  }
  if built && { [ "$target" != cluster ] || [ -f "$CACHE/share/kwok-crds/kwok.x-k8s.io_logs.yaml" ]; }; then
    echo "$BIN"; exit 0
  fi

  command -v go >/dev/null || die "go is not installed (the build needs Go >= 1.26 and the Go module proxy)"
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.lock"
  flock 9
  if built; then share; echo "$BIN"; exit 0; fi   # another caller built it while we waited

  # Static, reproducible binaries; -mod=readonly: go.sum is the pin, never rewritten here.
  export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-mod=readonly -trimpath -buildvcs=false"
  ld="-s -w"
  tmp="$BIN.tmp"
  rm -rf "$tmp" && mkdir -p "$tmp"
  start=$SECONDS

  # Without these (upstream hack/lib/version.sh) /version reports v0.0.0-master.
  local minor kld p
  minor=$(cut -d. -f2 <<<"$KUBE_VERSION")
  kld="$ld"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    kld="$kld -X $p.gitVersion=v$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done

  if [ "$target" = cluster ]; then
    log "building etcd v$ETCD_VERSION"
    (cd "$HERE/go/etcd" && go build -ldflags "$ld" -o "$tmp/etcd" go.etcd.io/etcd/server/v3 \
      && go build -ldflags "$ld" -o "$tmp/etcdctl" go.etcd.io/etcd/etcdctl/v3)

    log "etcd built ($((SECONDS - start)) s); building kwok v$KWOK_VERSION"
    (cd "$HERE/go/kwok" && go build -ldflags "$ld -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=$KUBE_VERSION" \
      -o "$tmp/kwok" sigs.k8s.io/kwok/cmd/kwok)

    log "kwok built ($((SECONDS - start)) s); building kube-apiserver, kube-controller-manager, kube-scheduler v$KUBE_VERSION (the slow part)"
    # One go build for the three: the packages they share compile once.
    (cd "$HERE/go/kubernetes" && go build -ldflags "$kld" -o "$tmp/" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler)
    "$tmp/kube-apiserver" --version | grep -qx "Kubernetes v$KUBE_VERSION" || die "kube-apiserver reports $("$tmp/kube-apiserver" --version)"
  else
    log "building containerd v$CONTAINERD_VERSION"
    (cd "$HERE/go/containerd" && go build -ldflags "$ld" -o "$tmp/" github.com/containerd/containerd/v2/cmd/containerd \
      github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 github.com/containerd/containerd/v2/cmd/ctr)
    log "containerd built ($((SECONDS - start)) s); building kubelet v$KUBE_VERSION"
    (cd "$HERE/go/kubelet" && go build -ldflags "$kld" -o "$tmp/kubelet" k8s.io/kubernetes/cmd/kubelet)
    "$tmp/kubelet" --version | grep -qx "Kubernetes v$KUBE_VERSION" || die "kubelet reports $("$tmp/kubelet" --version)"
  fi

  echo "$stamp" > "$tmp/.stamp"
  rm -rf "$BIN" && mv "$tmp" "$BIN"
  share
  log "built in $((SECONDS - start)) s into $BIN"
  echo "$BIN"
}
main "$@"
