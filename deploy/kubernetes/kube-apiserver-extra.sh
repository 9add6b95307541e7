#!/usr/bin/env bash
# A second API server for the test cluster that kube-up.sh started: the same
# binary, flags, etcd, certificates and tokens as the first, on a port of its
# own, so that a test can stop and start it (an API server restart, as a
# client sees one) while the controllers, the scheduler and kwok, which talk
# to the first, go on running the cluster — and other tests go on using it.
#
#   bash deploy/kubernetes/kube-apiserver-extra.sh start NAME [state-dir]
#   bash deploy/kubernetes/kube-apiserver-extra.sh stop NAME [state-dir]
#   bash deploy/kubernetes/kube-apiserver-extra.sh kill NAME [state-dir]
#
# start: (re)starts it, on the port it had if it ran before, waits for /readyz,
# prints the path of a kubeconfig for the provider's user that points at it
# (<state>/extra/NAME/provider.kubeconfig). stop: SIGTERM, then SIGKILL after
# 10 s (an API server drains its watches for about that long). kill: SIGKILL,
# gone at once, as in a crash. kube-down.sh stops every extra API server too.
set -euo pipefail
action=${1:?start or stop}
name=${2:?a name for the extra API server}
STATE=${3:-${SWITCHYARD_KUBE_DIR:-/tmp/switchyard-kube}}
DIR="$STATE/extra/$name"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { echo "kube-apiserver-extra: $*" >&2; }
die() { log "error: $*"; exit 1; }
[[ "$name" =~ ^[A-Za-z0-9_.-]+$ ]] || die "the name must be letters, digits, '.', '_' or '-'"

running() { # the pid in DIR runs kube-apiserver
  [ -f "$DIR/kube-apiserver.pid" ] || return 1
  case "$(readlink "/proc/$(cat "$DIR/kube-apiserver.pid")/exe" 2>/dev/null)" in */kube-apiserver | */"kube-apiserver (deleted)") return 0 ;; *) return 1 ;; esac
}

stop() { # [SIGNAL]
  running || { rm -f "$DIR/kube-apiserver.pid"; return 0; }
  local pid
  pid=$(cat "$DIR/kube-apiserver.pid")
  kill "-${1:-TERM}" "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$DIR/kube-apiserver.pid"
}

case "$action" in
  stop) stop; exit 0 ;;
  kill) stop KILL; exit 0 ;;
  start) ;;
  *) die "unknown action $action (start, stop or kill)" ;;
esac

[ -f "$STATE/run/kube-apiserver.pid" ] || die "no cluster in $STATE: run kube-up.sh first"
primary=$(cat "$STATE/run/kube-apiserver.pid")
binary=$(readlink "/proc/$primary/exe" 2>/dev/null | sed 's/ (deleted)$//') || true
case "$binary" in */kube-apiserver) ;; *) die "the cluster's API server (pid $primary) is not running" ;; esac
mkdir -p "$DIR"
stop

# The first API server's own flags, as it runs them (one per NUL), all but its port.
args=()
while IFS= read -r -d '' arg; do
  case "$arg" in --secure-port=*) ;; *) args+=("$arg") ;; esac
done < <(tail -z -n +2 "/proc/$primary/cmdline")

if [ ! -s "$DIR/port" ]; then
  read -r ephemeral_low _ < /proc/sys/net/ipv4/ip_local_port_range
  [ "$ephemeral_low" -gt 21024 ] || ephemeral_low=32768
  while :; do
    port=$((20000 + RANDOM % (ephemeral_low - 20000)))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
  done
  echo "$port" > "$DIR/port"
fi
port=$(cat "$DIR/port")

setsid bash "$HERE/../daemon-exec.sh" "$STATE" "$DIR/kube-apiserver.pid" \
  "$binary" --secure-port="$port" "${args[@]}" </dev/null >>"$DIR/kube-apiserver.log" 2>&1 &
for _ in $(seq 1 50); do [ -s "$DIR/kube-apiserver.pid" ] && break; sleep 0.02; done

sed "s#server: https://127.0.0.1:[0-9]*#server: https://127.0.0.1:$port#" "$STATE/provider.kubeconfig" > "$DIR/provider.kubeconfig"
for _ in $(seq 1 600); do
  running || die "the extra API server exited; the end of $DIR/kube-apiserver.log:
$(tail -n 15 "$DIR/kube-apiserver.log")"
  if [ "$(curl -sS --max-time 2 --cacert "$STATE/pki/ca.crt" -H "Authorization: Bearer $(cat "$STATE/pki/admin.token")" \
    "https://127.0.0.1:$port/readyz" 2>/dev/null)" = ok ]; then
    echo "$DIR/provider.kubeconfig"
    exit 0
  fi
  sleep 0.1
done
die "the extra API server was not ready within 60 s; see $DIR/kube-apiserver.log"
