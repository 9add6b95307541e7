#!/usr/bin/env bash
# Stop the Kubernetes test cluster that kube-up.sh started in a state directory.
#
#   bash deploy/kubernetes/kube-down.sh [state-dir]     # default $SWITCHYARD_KUBE_DIR or /tmp/switchyard-kube
#
# Stops the daemons it recorded (kwok and the control plane first, etcd last):
# SIGTERM, then SIGKILL after 10 s. Keeps the logs; the next kube-up.sh starts afresh.
set -euo pipefail
STATE=${1:-${SWITCHYARD_KUBE_DIR:-/tmp/switchyard-kube}}
log() { echo "kube-down: $*" >&2; }

rm -f "$STATE/kube.env"
for d in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
  f="$STATE/run/$d.pid"
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$d ($pid) did not stop within 10 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$f"
done
rm -rf "$STATE/run"
log "stopped the cluster in $STATE"
