#!/usr/bin/env bash
# Regenerate the pinned wrapper modules in deploy/kubernetes/go/ from versions.env.
# Only needed when a version changes; kube-build.sh builds from the committed go.mod/go.sum.
#
#   bash deploy/kubernetes/update-go-mod.sh
#
# k8s.io/kubernetes requires its 33 staging modules (k8s.io/api, client-go, ...) at
# v0.0.0 with `replace => ./staging/...`; a dependency's replaces are ignored, so the
# wrapper re-declares each one against the published v0.<minor>.<patch>
# (kubernetes/kubernetes#79384). The list comes from the go.mod the proxy serves.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC1091
. "$HERE/versions.env"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
log() { echo "update-go-mod: $*" >&2; }

fresh_module() { # dir module-path
  rm -f "$1/go.mod" "$1/go.sum"
  (cd "$1" && go mod init "$2" >/dev/null 2>&1 && go mod edit -go=1.26.0)
}

# --- Kubernetes --------------------------------------------------------------
dir="$HERE/go/kubernetes"
staging="v0.${KUBE_VERSION#1.}"
fresh_module "$dir" switchyard.local/kubernetes-bin
cd "$dir"
# The dependency's godebug line is ignored in module mode, so the wrapper repeats it.
printf '\ngodebug default=go1.26\n' >> go.mod
gomod=$(go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
[ -f "$gomod" ] || { log "no go.mod for k8s.io/kubernetes@v$KUBE_VERSION"; exit 1; }
mods=$(sed -n 's|^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/src/.*|\1|p' "$gomod")
log "$(wc -w <<<"$mods") staging modules, replaced by $staging"
for m in $mods; do go mod edit -replace="$m=$m@$staging"; done
go get -tool \
  "k8s.io/kubernetes/cmd/kube-apiserver@v$KUBE_VERSION" \
  "k8s.io/kubernetes/cmd/kube-controller-manager@v$KUBE_VERSION" \
  "k8s.io/kubernetes/cmd/kube-scheduler@v$KUBE_VERSION"
go mod tidy
log "kubernetes: $(grep -c . go.sum) go.sum lines"

# --- etcd --------------------------------------------------------------------
# The etcd binary's main is the root package of go.etcd.io/etcd/server/v3; that
# module requires api, client and pkg at its own version, so no replace is needed.
dir="$HERE/go/etcd"
fresh_module "$dir" switchyard.local/etcd-bin
cd "$dir"
go get -tool "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" "go.etcd.io/etcd/etcdctl/v3@v$ETCD_VERSION"
go mod tidy

# --- kwok --------------------------------------------------------------------
dir="$HERE/go/kwok"
fresh_module "$dir" switchyard.local/kwok-bin
cd "$dir"
go get -tool "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
go mod tidy
log "done; commit deploy/kubernetes/go/*/go.mod and go.sum"
