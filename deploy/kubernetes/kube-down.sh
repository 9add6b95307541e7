#!/usr/bin/env bash
# Stop the Kubernetes test cluster that kube-up.sh started in a state directory.
#
#   bash deploy/kubernetes/kube-down.sh [state-dir]     # default $SWITCHYARD_KUBE_DIR or /tmp/switchyard-kube
#
# Stops the daemons it recorded, in three waves: kwok, the scheduler and the
# controller-manager together, then the API server, then etcd. Each gets SIGTERM,
# then SIGKILL after 10 s. Keeps the logs; the next kube-up.sh starts afresh.
set -euo pipefail
STATE=${1:-${SWITCHYARD_KUBE_DIR:-/tmp/switchyard-kube}}
log() { echo "kube-down: $*" >&2; }

stop() { # NAME...: SIGTERM all, wait for all, SIGKILL what is left
  local d pid pids=() names=()
  for d in "$@"; do
    [ -f "$STATE/run/$d.pid" ] || continue
    pid=$(cat "$STATE/run/$d.pid")
    rm -f "$STATE/run/$d.pid"
    # Only a process running that daemon's binary: after a reboot the pid may be another's.
    case "$(readlink "/proc/$pid/exe" 2>/dev/null)" in */"$d") ;; *) continue ;; esac
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

rm -f "$STATE/kube.env"
stop kwok kube-scheduler kube-controller-manager
stop kube-apiserver
stop etcd
rm -rf "$STATE/run"
log "stopped the cluster in $STATE"
