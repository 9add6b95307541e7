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
  mkdir -p "$1" && rm -f "$1/go.mod" "$1/go.sum"
  (cd "$1" && go mod init "$2" >/dev/null 2>&1 && go mod edit -go=1.26.0)
}

# --- Kubernetes --------------------------------------------------------------
kube_module() { # DIR CMD...: a wrapper around k8s.io/kubernetes with these cmd/ packages as tools
  local dir=$1; shift
  fresh_module "$dir" "switchyard.local/$(basename "$dir")-bin"
  cd "$dir"
  # The dependency's godebug line is ignored in module mode, so the wrapper repeats it.
  printf '\ngodebug default=go1.26\n' >> go.mod
  local gomod mods m cmd tools=()
  gomod=$(go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
  [ -f "$gomod" ] || { log "no go.mod for k8s.io/kubernetes@v$KUBE_VERSION"; exit 1; }
  mods=$(sed -n 's|^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/src/.*|\1|p' "$gomod")
  log "$(basename "$dir"): $(wc -w <<<"$mods") staging modules, replaced by v0.${KUBE_VERSION#1.}"
  for m in $mods; do go mod edit -replace="$m=$m@v0.${KUBE_VERSION#1.}"; done
  for cmd in "$@"; do tools+=("k8s.io/kubernetes/cmd/$cmd@v$KUBE_VERSION"); done
  go get -tool "${tools[@]}"
  go mod tidy
  # MVS may pick a newer third-party module than k/k pins (another requirement asks
  # for it); report any, since the binaries would then differ from upstream's.
  # The modules of the packages actually built (go list -m all would add go.sum lines).
  local pkgs=("${tools[@]%@*}")
  go list -mod=readonly -deps -f '{{with .Module}}{{.Path}} {{.Version}}{{end}}' "${pkgs[@]}" | sort -u |
    while read -r m v; do
      local kv; kv=$(awk -v m="$m" '$1 == m { print $2; exit }' "$gomod")
      if [ -n "$kv" ] && [ "$kv" != v0.0.0 ] && [ "$kv" != "$v" ]; then log "drift: $m $v (k8s.io/kubernetes pins $kv)"; fi
    done
  return 0
}
kube_module "$HERE/go/kubernetes" kube-apiserver kube-controller-manager kube-scheduler
# Tier B only (kube-real-node.sh): its own module, so tier A's pins never move for it.
kube_module "$HERE/go/kubelet" kubelet

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
# --- containerd (tier B only) --------------------------------------------------
# Its go.mod has exclude directives, which `go install pkg@version` refuses; a wrapper is fine.
dir="$HERE/go/containerd"
fresh_module "$dir" switchyard.local/containerd-bin
cd "$dir"
go get -tool "github.com/containerd/containerd/v2/cmd/containerd@v$CONTAINERD_VERSION" \
  "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@v$CONTAINERD_VERSION" \
  "github.com/containerd/containerd/v2/cmd/ctr@v$CONTAINERD_VERSION"
go mod tidy

log "done; commit deploy/kubernetes/go/*/go.mod and go.sum"
