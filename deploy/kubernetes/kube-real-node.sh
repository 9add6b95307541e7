#!/usr/bin/env bash
# Tier B, optional: add one real node to the running test cluster — a kubelet
# with containerd and Debian's runc — that runs real containers from images
# built here (no registry). Node sy-real-a, tainted sim.switchyard.io/real=true:NoSchedule,
# so only pods that ask for it land there (README.md, "Tier B").
#
#   bash deploy/kubernetes/kube-real-node.sh [state-dir]     # as root; after kube-up.sh
#
# Builds kubelet and containerd once (kube-build.sh real-node), installs runc,
# catatonit, busybox-static and the CNI loopback plugin from Debian when missing,
# makes three images (localhost/pause:ci, localhost/busybox:ci, localhost/node:ci),
# starts containerd and the kubelet under <state-dir>/real, waits until the node
# is Ready and adds SWITCHYARD_KUBE_REAL_NODE, SWITCHYARD_KUBE_REAL_IMAGE and
# SWITCHYARD_KUBE_NODE_IMAGE to kube.env. Idempotent: on a node already up it
# only imports an image it lacks. kube-down.sh stops it with the rest.
#
# Pods for it need: nodeSelector sim.switchyard.io/real=true, a toleration of that
# taint, hostNetwork: true (there is no pod network: nothing may route 10.x here),
# image localhost/busybox:ci with imagePullPolicy: Never.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=${1:-${SWITCHYARD_KUBE_DIR:-/tmp/switchyard-kube}}
REAL="$STATE/real"
NODE=sy-real-a
log() { echo "kube-real-node: $*" >&2; }
die() { log "error: $*"; exit 1; }
alive() {
  [ -f "$REAL/$1.pid" ] || return 1
  case "$(readlink "/proc/$(cat "$REAL/$1.pid")/exe" 2>/dev/null)" in */"$1" | */"$1 (deleted)") return 0 ;; *) return 1 ;; esac
}

[ "$(id -u)" = 0 ] || die "needs root (containers, cgroups, mounts)"
[ -f "$STATE/kube.env" ] || die "no cluster in $STATE; run kube-up.sh first"
# shellcheck disable=SC1091
. "$STATE/run/ports.env"
# shellcheck disable=SC1091
. "$STATE/kube.env"
api() {
  local path=$1; shift
  curl -sS --max-time 10 --cacert "$SWITCHYARD_KUBE_CA_FILE" -H "Authorization: Bearer $(cat "$SWITCHYARD_KUBE_TOKEN_FILE")" \
    "$@" "$SWITCHYARD_KUBE_SERVER$path"
}
node_ready() { api "/api/v1/nodes/$NODE" 2>/dev/null | tr -d ' \n' | grep -q '"type":"Ready","status":"True"'; }

already_up=0
alive containerd && alive kubelet && node_ready && already_up=1
[ "$already_up" = 1 ] || bash "$HERE/kube-down.sh" --real-only "$STATE" 2>/dev/null || true

# --- packages, binaries, images ----------------------------------------------
need=()
[ -x /usr/sbin/runc ] || need+=(runc)
[ -x /usr/bin/catatonit ] || need+=(catatonit)
[ -x /bin/busybox ] && file -L /bin/busybox 2>/dev/null | grep -q 'statically linked' || need+=(busybox-static)
[ -x /usr/lib/cni/loopback ] || need+=(containernetworking-plugins)
command -v file >/dev/null || need+=(file)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
BIN=$(bash "$HERE/kube-build.sh" real-node)
IMAGES="$BIN/../images"

# oci_image NAME ROOTFS OUT ENTRYPOINT-JSON CMD-JSON: an OCI image archive that `ctr images import` takes.
oci_image() {
  local name=$1 rootfs=$2 out=$3 ep=$4 cmd=$5 work diff lsha lsize csha csize msha msize
  work=$(mktemp -d)
  mkdir -p "$work/blobs/sha256"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$rootfs" -cf "$work/layer.tar" .
  diff=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
  gzip -n -c "$work/layer.tar" > "$work/layer.tgz" && rm "$work/layer.tar"
  lsha=$(sha256sum "$work/layer.tgz" | cut -d' ' -f1) lsize=$(stat -c %s "$work/layer.tgz")
  mv "$work/layer.tgz" "$work/blobs/sha256/$lsha"
  printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":%s,"Cmd":%s,"Env":["PATH=/bin"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$ep" "$cmd" "$diff" > "$work/config"
  csha=$(sha256sum "$work/config" | cut -d' ' -f1) csize=$(stat -c %s "$work/config")
  mv "$work/config" "$work/blobs/sha256/$csha"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
    "$csha" "$csize" "$lsha" "$lsize" > "$work/manifest"
  msha=$(sha256sum "$work/manifest" | cut -d' ' -f1) msize=$(stat -c %s "$work/manifest")
  mv "$work/manifest" "$work/blobs/sha256/$msha"
  printf '{"imageLayoutVersion":"1.0.0"}' > "$work/oci-layout"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s"}}]}' \
    "$msha" "$msize" "$name" > "$work/index.json"
  tar -C "$work" -cf "$out.tmp" oci-layout index.json blobs && mv "$out.tmp" "$out"
  rm -rf "$work"
}
if [ ! -f "$IMAGES/busybox.tar" ] || [ ! -f "$IMAGES/pause.tar" ]; then
  mkdir -p "$IMAGES"
  root=$(mktemp -d)
  # The sandbox ("pause") container: Debian's static catatonit, as podman's own pause image.
  mkdir -p "$root/pause" && cp /usr/bin/catatonit "$root/pause/pause"
  oci_image localhost/pause:ci "$root/pause" "$IMAGES/pause.tar" '["/pause","-P"]' null
  mkdir -p "$root/busybox/bin" "$root/busybox/tmp" && cp /bin/busybox "$root/busybox/bin/busybox"
  for a in $("$root/busybox/bin/busybox" --list); do [ "$a" = busybox ] || ln -s busybox "$root/busybox/bin/$a"; done
  oci_image localhost/busybox:ci "$root/busybox" "$IMAGES/busybox.tar" null '["sh"]'
  rm -rf "$root"
fi
# The host's node (for web apps in tests: test/support/web-app.ts), its shared libraries and busybox.
NODE_BIN=$(readlink -f "$(command -v node)")
NODE_TAR="$IMAGES/node-$("$NODE_BIN" --version).tar"
if [ ! -f "$NODE_TAR" ]; then
  root=$(mktemp -d)
  mkdir -p "$root/usr/bin" "$root/bin" "$root/tmp"
  cp "$NODE_BIN" "$root/usr/bin/node"
  for lib in $(ldd "$NODE_BIN" | grep -o '/[^ ]*'); do mkdir -p "$root$(dirname "$lib")" && cp -L "$lib" "$root$lib"; done
  cp /bin/busybox "$root/bin/busybox"
  for a in $("$root/bin/busybox" --list); do [ "$a" = busybox ] || ln -s busybox "$root/bin/$a"; done
  oci_image localhost/node:ci "$root" "$NODE_TAR" null '["sh"]'
  rm -rf "$root"
fi
record_images() {
  sed -i '/^SWITCHYARD_KUBE_REAL_/d; /^SWITCHYARD_KUBE_NODE_IMAGE=/d' "$STATE/kube.env"
  { echo "SWITCHYARD_KUBE_REAL_NODE=$NODE"; echo "SWITCHYARD_KUBE_REAL_IMAGE=localhost/busybox:ci"; echo "SWITCHYARD_KUBE_NODE_IMAGE=localhost/node:ci"; } >> "$STATE/kube.env"
}
if [ "$already_up" = 1 ]; then
  c="$REAL/containerd"
  ctr=("$BIN/ctr" -a "$c/containerd.sock" -n k8s.io)
  "${ctr[@]}" images ls -q | grep -qx 'localhost/node:ci' || "${ctr[@]}" images import "$NODE_TAR" >/dev/null
  record_images
  log "node $NODE is already up"
  exit 0
fi

# --- containerd --------------------------------------------------------------
mkdir -p "$REAL"/{containerd,cni,kubelet,log}
# A loopback-only CNI network: containerd reports the network ready, and only
# hostNetwork pods can run (a real pod network would hand out 10.x addresses).
echo '{"cniVersion":"1.0.0","name":"sy-loopback","plugins":[{"type":"loopback"}]}' > "$REAL/cni/10-loopback.conflist"
c="$REAL/containerd"
cat > "$c/config.toml" <<EOF
version = 3
root = "$c/root"
state = "$c/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.blockfile", "io.containerd.snapshotter.v1.erofs", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing", "io.containerd.nri.v1.nri"]
[grpc]
  address = "$c/containerd.sock"
[ttrpc]
  address = "$c/containerd.ttrpc.sock"
[debug]
  address = "$c/debug.sock"
[plugins.'io.containerd.cri.v1.runtime']
  enable_selinux = false
  # No AppArmor here; root lacks CAP_SYS_RESOURCE (negative oom_score_adj fails);
  # hugetlb exists only in the cgroup2 half of this hybrid hierarchy.
  disable_apparmor = true
  restrict_oom_score_adj = true
  disable_hugetlb_controller = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$REAL/cni"
[plugins.'io.containerd.cri.v1.images']
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "localhost/pause:ci"
[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
EOF
spawn() { # NAME ARGS...
  local name=$1; shift
  rm -f "$REAL/$name.pid"
  PATH="$BIN:/usr/sbin:/usr/bin:/sbin:/bin" setsid bash "$HERE/../daemon-exec.sh" "$REAL" "$REAL/$name.pid" "$BIN/$name" "$@" \
    </dev/null >"$REAL/log/$name.log" 2>&1 &
  for _ in $(seq 1 50); do [ -s "$REAL/$name.pid" ] && return; sleep 0.02; done
  die "$name did not start"
}
rm -f "$c"/*.sock   # a socket left by an earlier containerd would look ready at once
spawn containerd --config "$c/config.toml"
ctr=("$BIN/ctr" -a "$c/containerd.sock" -n k8s.io)
# The socket appears before every plugin is up: wait until the API answers.
for _ in $(seq 1 150); do "${ctr[@]}" version >/dev/null 2>&1 && break; alive containerd || break; sleep 0.1; done
"${ctr[@]}" version >/dev/null 2>&1 || die "containerd did not start; see $REAL/log/containerd.log"
import_image() { # ARCHIVE: retried, since the CRI image service may still be starting
  local out
  for _ in 1 2 3 4 5 6 7 8 9 10; do out=$("${ctr[@]}" images import "$1" 2>&1) && return 0; sleep 0.5; done
  die "ctr images import $1 failed: $out"
}
import_image "$IMAGES/pause.tar"
import_image "$IMAGES/busybox.tar"
import_image "$NODE_TAR"

# --- kubelet -----------------------------------------------------------------
port=$API_PORT
while :; do port=$((port + 1)); (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break; done
cat > "$REAL/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This host has cgroup v1 (hybrid); Kubernetes 1.35+ refuses it unless told otherwise.
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$c/containerd.sock
address: 127.0.0.1
port: $port
readOnlyPort: 0
healthzPort: 0
tlsCertFile: $STATE/pki/serving.crt
tlsPrivateKeyFile: $STATE/pki/serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $STATE/pki/ca.crt}
authorization: {mode: Webhook}
evictionHard: {nodefs.available: "1%", imagefs.available: "1%", memory.available: "100Mi"}
# The images are imported, never pulled: garbage-collecting them would lose them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
failSwapOn: false
resolvConf: /etc/resolv.conf
registerWithTaints:
- {key: sim.switchyard.io/real, value: "true", effect: NoSchedule}
EOF
spawn kubelet --config="$REAL/kubelet.yaml" --kubeconfig="$STATE/config/kubelet.kubeconfig" \
  --hostname-override="$NODE" --node-ip=127.0.0.1 --root-dir="$REAL/kubelet" \
  --node-labels=sim.switchyard.io/real=true,node.kubernetes.io/instance-type=real-local

# The kubelet refuses a loopback node IP ("nodeIP can't be loopback address") and
# then sets no address at all; without one the API server cannot reach it for logs
# and exec, and any other address of this machine is one nothing may dial. So the
# address is set here; the kubelet's later status updates keep it.
for _ in $(seq 1 300); do
  alive kubelet || die "the kubelet exited; see $REAL/log/kubelet.log"
  api "/api/v1/nodes/$NODE" -f >/dev/null 2>&1 && break
  sleep 0.1
done
api "/api/v1/nodes/$NODE/status" -X PATCH -H 'Content-Type: application/merge-patch+json' -o /dev/null -f \
  --data-binary "{\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"127.0.0.1\"},{\"type\":\"Hostname\",\"address\":\"$NODE\"}]}}" \
  || die "node $NODE did not register; see $REAL/log/kubelet.log"
for _ in $(seq 1 600); do node_ready && break; alive kubelet || die "the kubelet exited; see $REAL/log/kubelet.log"; sleep 0.1; done
node_ready || die "node $NODE not Ready within 60 s; see $REAL/log/"

record_images
log "node $NODE Ready (kubelet v$SWITCHYARD_KUBE_VERSION, containerd, runc $(/usr/sbin/runc --version | head -1 | awk '{print $3}'))"
