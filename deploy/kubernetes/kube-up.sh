#!/usr/bin/env bash
# Start a Kubernetes test cluster on this machine, without systemd or containers:
# etcd, kube-apiserver, kube-controller-manager and kube-scheduler (the real
# ones, built by kube-build.sh) plus kwok, which plays the nodes and the pods'
# lifecycle. Everything listens on 127.0.0.1 only, on free ports, under one state
# directory; clients authenticate with a static bearer token, RBAC is on.
#
#   bash deploy/kubernetes/kube-up.sh [state-dir]
#
# Settings (environment):
#   SWITCHYARD_KUBE_DIR     state directory (default /tmp/switchyard-kube; the first argument wins)
#   SWITCHYARD_KUBE_CACHE   where the binaries are built (kube-build.sh)
#
# Afterwards `<state-dir>/kube.env` holds KUBECONFIG=... and the rest of the
# connection details (README.md):  set -a; . <state-dir>/kube.env; set +a
# Idempotent: when the cluster in that directory is up, it returns at once.
# A (re)start begins from an empty etcd. Stop it with kube-down.sh [state-dir].
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=${1:-${SWITCHYARD_KUBE_DIR:-/tmp/switchyard-kube}}
ENV_FILE="$STATE/kube.env"
DAEMONS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)
# shellcheck disable=SC1091
. "$HERE/versions.env"

log() { echo "kube-up: $*" >&2; }
die() { log "error: $*"; exit 1; }
# alive NAME: its recorded pid runs that binary (after a reboot the pid may be another's).
alive() {
  [ -f "$STATE/run/$1.pid" ] || return 1
  case "$(readlink "/proc/$(cat "$STATE/run/$1.pid")/exe" 2>/dev/null)" in */"$1" | */"$1 (deleted)") return 0 ;; *) return 1 ;; esac
}
# api PATH [curl args...]: a request to the API server as the cluster admin.
api() {
  local path=$1; shift
  curl -sS --max-time 10 --cacert "$STATE/pki/ca.crt" -H "Authorization: Bearer $(cat "$STATE/pki/admin.token")" \
    "$@" "https://127.0.0.1:$API_PORT$path"
}

# --- already up? -------------------------------------------------------------
if [ -f "$ENV_FILE" ] && [ -f "$STATE/run/ports.env" ]; then
  # shellcheck disable=SC1091
  . "$STATE/run/ports.env"
  up=1
  for d in "${DAEMONS[@]}"; do alive "$d" || { up=0; break; }; done
  if [ "$up" = 1 ] && [ "$(api /readyz 2>/dev/null)" = ok ]; then
    log "the cluster in $STATE is already up"
    exit 0
  fi
fi
# Half up (a daemon died, or the machine was restarted): stop what is left, start afresh.
if [ -d "$STATE/run" ]; then
  log "stopping what is left of an earlier start in $STATE"
  bash "$HERE/kube-down.sh" "$STATE" || true
fi

for tool in openssl curl flock setsid; do command -v "$tool" >/dev/null || die "$tool is missing"; done
BIN=$(bash "$HERE/kube-build.sh")
started=$(date +%s%N)

# --- state, ports, PKI, tokens ----------------------------------------------
rm -rf "$STATE/etcd" "$STATE/run" "$STATE/pki" "$STATE/log" "$ENV_FILE"
mkdir -p "$STATE"/{run,pki,log,config,pod-logs,exec}
chmod 700 "$STATE/pki"

# Below the kernel's ephemeral range: a port there may be the local end of some
# connection, which nobody listens on but which a listener cannot bind either.
read -r ephemeral_low _ < /proc/sys/net/ipv4/ip_local_port_range
[ "$ephemeral_low" -gt 21024 ] || ephemeral_low=32768
taken=" "
free_port() { # a port nobody listens on; never the same twice in one start
  local p
  while :; do
    p=$((20000 + RANDOM % (ephemeral_low - 20000)))
    case "$taken" in *" $p "*) continue ;; esac
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
    taken="$taken$p "
    echo "$p"; return
  done
}
ETCD_PORT=$(free_port) ETCD_PEER_PORT=$(free_port) API_PORT=$(free_port)
KCM_PORT=$(free_port) SCHED_PORT=$(free_port) KWOK_PORT=$(free_port)
for v in ETCD_PORT ETCD_PEER_PORT API_PORT KCM_PORT SCHED_PORT KWOK_PORT; do echo "$v=${!v}"; done > "$STATE/run/ports.env"

pki="$STATE/pki"
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=switchyard-kube-ca \
  -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
# One serving certificate for the API server and kwok's kubelet endpoint; both are 127.0.0.1.
openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver -keyout "$pki/serving.key" -out "$pki/serving.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.0.0.1\nextendedKeyUsage=serverAuth\n' \
  > "$pki/serving.ext"
openssl x509 -req -in "$pki/serving.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 3650 \
  -extfile "$pki/serving.ext" -out "$pki/serving.crt" 2>/dev/null
# The API server's client certificate towards kubelets (logs, exec): kwok ignores it,
# a real kubelet (tier B) authenticates it against the CA and authorizes system:masters.
openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" \
  -keyout "$pki/kubelet-client.key" -out "$pki/kubelet-client.csr" 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' > "$pki/client.ext"
openssl x509 -req -in "$pki/kubelet-client.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 3650 \
  -extfile "$pki/client.ext" -out "$pki/kubelet-client.crt" 2>/dev/null
# Service-account token signing key (the controller-manager signs, the API server verifies).
openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null

# Static tokens (--token-auth-file): token,user,uid,"groups". The control-plane
# users are the ones the default RBAC bootstrap policy already grants.
token() { openssl rand -hex 24; }
for who in admin provider controller-manager scheduler kwok kubelet; do token > "$pki/$who.token"; done
{
  echo "$(cat "$pki/admin.token"),switchyard-admin,switchyard-admin,\"system:masters\""
  # The provider's own user: only what provider-rbac.yaml grants.
  echo "$(cat "$pki/provider.token"),switchyard-provider,switchyard-provider"
  echo "$(cat "$pki/controller-manager.token"),system:kube-controller-manager,system:kube-controller-manager"
  echo "$(cat "$pki/scheduler.token"),system:kube-scheduler,system:kube-scheduler"
  # kwok writes node and pod status for every simulated node; a kubelet per node would be system:node:<name>.
  echo "$(cat "$pki/kwok.token"),kwok-controller,kwok-controller,\"system:masters\""
  # For the optional real kubelet (tier B, README.md): the Node authorizer's identity of node sy-real-a.
  echo "$(cat "$pki/kubelet.token"),system:node:sy-real-a,system:node:sy-real-a,\"system:nodes\""
} > "$pki/tokens.csv"
chmod 600 "$pki"/*

kubeconfig() { # FILE TOKEN-FILE USER
  # The token and CA inline: every client (client-go, @kubernetes/client-node) reads them.
  cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: switchyard-kube
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority-data: $(base64 -w0 "$pki/ca.crt")
users:
- name: $3
  user:
    token: $(cat "$2")
contexts:
- name: switchyard-kube
  context: {cluster: switchyard-kube, user: $3, namespace: default}
current-context: switchyard-kube
EOF
}
kubeconfig "$STATE/kubeconfig" "$pki/admin.token" switchyard-admin
kubeconfig "$STATE/provider.kubeconfig" "$pki/provider.token" switchyard-provider
kubeconfig "$STATE/config/controller-manager.kubeconfig" "$pki/controller-manager.token" system:kube-controller-manager
kubeconfig "$STATE/config/scheduler.kubeconfig" "$pki/scheduler.token" system:kube-scheduler
kubeconfig "$STATE/config/kwok.kubeconfig" "$pki/kwok.token" kwok-controller
kubeconfig "$STATE/config/kubelet.kubeconfig" "$pki/kubelet.token" system:node:sy-real-a

cat > "$STATE/config/scheduler.yaml" <<EOF
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: $STATE/config/scheduler.kubeconfig
leaderElection:
  leaderElect: false
EOF

# kwok: the Stages (README.md), pod logs served from files, exec as an unprivileged host process.
cat > "$STATE/pod-logs/default.log" <<EOF
$(date -u +%Y-%m-%dT%H:%M:%S.000000000Z) stdout F simulated container started (kwok serves this file as every container's log)
$(date -u +%Y-%m-%dT%H:%M:%S.000000000Z) stderr F a line on stderr
EOF
chmod 755 "$STATE/exec"
{
  # No KwokConfiguration document: kwok 0.8.0 does not default one read from a file
  # (nodeLeaseParallelism stays 0 and it exits); its options are flags below.
  cat <<EOF
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: switchyard-default-logs
spec:
  logs:
  - logsFile: $STATE/pod-logs/default.log
    follow: true
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterExec
metadata:
  name: switchyard-default-exec
spec:
  execs:
  - local:
      workDir: $STATE/exec
      securityContext:
        runAsUser: 65534
        runAsGroup: 65534
---
EOF
  cat "$HERE/kwok/node-stages.yaml"
  echo '---'
  cat "$HERE/kwok/pod-stages.yaml"
} > "$STATE/config/kwok.yaml"

# --- daemons -----------------------------------------------------------------
# setsid: the daemons leave the caller's process group, so they outlive it.
spawn() { # NAME ARGS...
  local name=$1; shift
  # The daemon writes its own pid: setsid forks when the caller leads a process group.
  setsid bash "$HERE/../daemon-exec.sh" "$STATE" "$STATE/run/$name.pid" "$BIN/$name" "$@" \
    </dev/null >"$STATE/log/$name.log" 2>&1 &
  for _ in $(seq 1 50); do [ -s "$STATE/run/$name.pid" ] && return; sleep 0.02; done
  die "$name did not start"
}
wait_for() { # WHAT SECONDS COMMAND...: poll every 0.1 s; a daemon that exits fails at once
  local what=$1 secs=$2 d; shift 2
  for _ in $(seq 1 $((secs * 10))); do
    "$@" >/dev/null 2>&1 && return 0
    for d in "${DAEMONS[@]}"; do
      if [ -f "$STATE/run/$d.pid" ] && ! alive "$d"; then
        die "$d exited while waiting for $what; the end of $STATE/log/$d.log:
$(tail -n 15 "$STATE/log/$d.log")"
      fi
    done
    sleep 0.1
  done
  die "$what not within $secs s; see $STATE/log/"
}

spawn etcd --name=sy0 --data-dir="$STATE/etcd" --unsafe-no-fsync --log-level=warn \
  --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster="sy0=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state=new
wait_for "etcd" 30 curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health"

# --endpoint-reconciler-type=none: the `kubernetes` Endpoints must not point at a loopback address.
# --kubelet-preferred-address-types=InternalIP: logs/exec go to the nodes' 127.0.0.1 (kwok), never to a name.
spawn kube-apiserver --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" \
  --tls-cert-file="$pki/serving.crt" --tls-private-key-file="$pki/serving.key" --client-ca-file="$pki/ca.crt" \
  --token-auth-file="$pki/tokens.csv" --authorization-mode=Node,RBAC --anonymous-auth=false \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
  --service-cluster-ip-range=10.0.0.0/24 --allow-privileged=true --endpoint-reconciler-type=none \
  --kubelet-preferred-address-types=InternalIP --profiling=false \
  --kubelet-client-certificate="$pki/kubelet-client.crt" --kubelet-client-key="$pki/kubelet-client.key"
wait_for "the API server's /readyz" 60 bash -c '[ "$(curl -sS --max-time 2 --cacert "$1" -H "Authorization: Bearer $(cat "$2")" "$3")" = ok ]' \
  _ "$pki/ca.crt" "$pki/admin.token" "https://127.0.0.1:$API_PORT/readyz"

spawn kube-controller-manager --kubeconfig="$STATE/config/controller-manager.kubeconfig" \
  --authentication-kubeconfig="$STATE/config/controller-manager.kubeconfig" \
  --authorization-kubeconfig="$STATE/config/controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port="$KCM_PORT" --leader-elect=false --controllers='*' \
  --use-service-account-credentials=true --service-account-private-key-file="$pki/sa.key" \
  --root-ca-file="$pki/ca.crt" --service-cluster-ip-range=10.0.0.0/24 --profiling=false
spawn kube-scheduler --config="$STATE/config/scheduler.yaml" \
  --authentication-kubeconfig="$STATE/config/scheduler.kubeconfig" \
  --authorization-kubeconfig="$STATE/config/scheduler.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port="$SCHED_PORT" --profiling=false
# multi-document YAML is not one object: post each document of provider-rbac.yaml on its own.
post_yaml() { # API-PATH FILE
  local code
  code=$(api "$1" -X POST -H 'Content-Type: application/yaml' --data-binary @"$2" -o /dev/null -w '%{http_code}')
  [ "$code" = 201 ] || [ "$code" = 409 ] || die "could not create $(basename "$2") at $1 (HTTP $code)"
}
awk -v d="$STATE/config/provider-rbac" 'BEGIN { n = 0 } /^---$/ { n++; next } { print > (d "-" n ".yaml") }' "$HERE/provider-rbac.yaml"
post_yaml /apis/rbac.authorization.k8s.io/v1/clusterroles "$STATE/config/provider-rbac-0.yaml"
# A cluster that had it already gets this version's rules.
api /apis/rbac.authorization.k8s.io/v1/clusterroles/switchyard-provider -X PUT -H 'Content-Type: application/yaml' \
  --data-binary @"$STATE/config/provider-rbac-0.yaml" -o /dev/null -f || die "could not update the provider's ClusterRole"
post_yaml /apis/rbac.authorization.k8s.io/v1/clusterrolebindings "$STATE/config/provider-rbac-1.yaml"
# kwok's per-pod Logs objects (a log file for one pod) need its CRD; ClusterLogs stays in the config.
post_yaml /apis/apiextensions.k8s.io/v1/customresourcedefinitions "$BIN/../share/kwok-crds/kwok.x-k8s.io_logs.yaml"
spawn kwok --kubeconfig="$STATE/config/kwok.kubeconfig" --config="$STATE/config/kwok.yaml" \
  --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake --enable-crds=Logs \
  --node-ip=127.0.0.1 --node-name=localhost --node-port="$KWOK_PORT" --server-address="127.0.0.1:$KWOK_PORT" \
  --tls-cert-file="$pki/serving.crt" --tls-private-key-file="$pki/serving.key" --node-lease-duration-seconds=40

wait_for "the controller-manager's /healthz" 60 curl -fsSk --max-time 2 "https://127.0.0.1:$KCM_PORT/healthz"
wait_for "the scheduler's /healthz" 60 curl -fsSk --max-time 2 "https://127.0.0.1:$SCHED_PORT/healthz"
# The default service account comes from the controller-manager; pods cannot be created before it exists.
wait_for "the default service account" 60 api /api/v1/namespaces/default/serviceaccounts/default -f

# --- nodes -------------------------------------------------------------------
# shellcheck disable=SC1091
. "$HERE/kwok/nodes.sh"
names=()
while read -r node; do
  names+=("$(sed -n 's/^{"apiVersion":"v1","kind":"Node","metadata":{"name":"\([^"]*\)".*/\1/p' <<<"$node")")
  code=$(api /api/v1/nodes -X POST -H 'Content-Type: application/json' --data-binary "$node" -o /dev/null -w '%{http_code}')
  [ "$code" = 201 ] || [ "$code" = 409 ] || die "could not create node ${names[-1]} (HTTP $code)"
done < <(kube_nodes)
nodes_ready() {
  local n
  for n in "${names[@]}"; do
    api "/api/v1/nodes/$n" | tr -d ' \n' | grep -q '"type":"Ready","status":"True"' || return 1
  done
}
wait_for "the nodes to be Ready" 60 nodes_ready
[ "$(api /readyz)" = ok ] || die "the API server is not ready"

{
  echo "KUBECONFIG=$STATE/kubeconfig"
  echo "SWITCHYARD_KUBE_DIR=$STATE"
  echo "SWITCHYARD_KUBE_PROVIDER_KUBECONFIG=$STATE/provider.kubeconfig"
  echo "SWITCHYARD_KUBE_SERVER=https://127.0.0.1:$API_PORT"
  echo "SWITCHYARD_KUBE_CA_FILE=$pki/ca.crt"
  echo "SWITCHYARD_KUBE_TOKEN_FILE=$pki/admin.token"
  echo "SWITCHYARD_KUBE_LOGS_DIR=$STATE/pod-logs"
  echo "SWITCHYARD_KUBE_BIN=$BIN"
  echo "SWITCHYARD_KUBE_VERSION=$KUBE_VERSION"
} > "$ENV_FILE"
ms=$((($(date +%s%N) - started) / 1000000))
log "cluster up in $((ms / 1000)).$(printf %03d $((ms % 1000))) s: Kubernetes v$KUBE_VERSION, etcd v$ETCD_VERSION, kwok v$KWOK_VERSION; nodes: ${names[*]}"
log "KUBECONFIG=$STATE/kubeconfig (all settings in $ENV_FILE)"
