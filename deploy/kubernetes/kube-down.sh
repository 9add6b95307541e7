#!/usr/bin/env bash
# Stop the Kubernetes test cluster that kube-up.sh started in a state directory.
#
#   bash deploy/kubernetes/kube-down.sh [state-dir]     # default $SWITCHYARD_KUBE_DIR or /tmp/switchyard-kube
#   bash deploy/kubernetes/kube-down.sh --real-only [state-dir]   # only the real node (kube-real-node.sh)
#
# The real node, when there is one, goes first: the kubelet, then every container
# it left (killed through containerd), containerd, and the kubelet's mounts.
# Stops the daemons it recorded, in three waves: kwok, the scheduler and the
# controller-manager together, then the API servers, then etcd. Each gets SIGTERM,
# then SIGKILL after 10 s. Keeps the logs; the next kube-up.sh starts afresh.
set -euo pipefail
real_only=0
[ "${1:-}" = --real-only ] && { real_only=1; shift; }
STATE=${1:-${SWITCHYARD_KUBE_DIR:-/tmp/switchyard-kube}}
log() { echo "kube-down: $*" >&2; }

stop() { # NAME...: SIGTERM all, wait for all, SIGKILL what is left
  local d pid pids=() names=() dir=${PID_DIR:-$STATE/run}
  for d in "$@"; do
    [ -f "$dir/$d.pid" ] || continue
    pid=$(cat "$dir/$d.pid")
    rm -f "$dir/$d.pid"
    # Only a process running that daemon's binary: after a reboot the pid may be another's.
    case "$(readlink "/proc/$pid/exe" 2>/dev/null)" in */"$d" | */"$d (deleted)") ;; *) continue ;; esac
    kill -TERM "$pid" 2>/dev/null || continue
    pids+=("$pid") names+=("$d")
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  local i left
  for _ in $(seq 1 100); do
    left=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && left=1; done
    [ "$left" = 0 ] && return 0
    sleep 0.1
  done
  for i in "${!pids[@]}"; do
    if kill -0 "${pids[$i]}" 2>/dev/null; then
      log "${names[$i]} (${pids[$i]}) did not stop within 10 s; killing it"
      kill -KILL "${pids[$i]}" 2>/dev/null || true
    fi
  done
}

stop_real_node() {
  local real="$STATE/real" sock="$STATE/real/containerd/containerd.sock" ctr t m
  [ -d "$real" ] || return 0
  PID_DIR=$real stop kubelet
  ctr=$(ls /var/cache/switchyard/kubernetes-*/bin-real/ctr "${SWITCHYARD_KUBE_CACHE:-/nonexistent}/bin-real/ctr" 2>/dev/null | head -1 || true)
  if [ -S "$sock" ] && [ -n "$ctr" ]; then
    for t in $("$ctr" -a "$sock" -n k8s.io tasks ls -q 2>/dev/null); do "$ctr" -a "$sock" -n k8s.io tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true; done
    sleep 0.5
    for t in $("$ctr" -a "$sock" -n k8s.io tasks ls -q 2>/dev/null); do "$ctr" -a "$sock" -n k8s.io tasks delete -f "$t" >/dev/null 2>&1 || true; done
  fi
  PID_DIR=$real stop containerd
  # The kubelet bind-mounts its root directory and the pods' volumes under it; deepest first.
  for m in $(awk -v r="$real/" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do umount -l "$m" 2>/dev/null || true; done
  sed -i '/^SWITCHYARD_KUBE_REAL_/d' "$STATE/kube.env" 2>/dev/null || true
}
stop_real_node
if [ "$real_only" = 1 ]; then log "stopped the real node in $STATE"; exit 0; fi

rm -f "$STATE/kube.env"
stop kwok kube-scheduler kube-controller-manager
# Extra API servers of tests (kube-apiserver-extra.sh) with the first.
for extra in "$STATE"/extra/*/; do [ -d "$extra" ] && PID_DIR=$extra stop kube-apiserver; done
rm -rf "$STATE/extra"
stop kube-apiserver
stop etcd
rm -rf "$STATE/run"
log "stopped the cluster in $STATE"
