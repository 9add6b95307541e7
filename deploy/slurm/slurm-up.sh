#!/usr/bin/env bash
# Start a single-node Slurm cluster on this machine, without systemd: munged,
# slurmctld and slurmd as background daemons, everything under one run
# directory. Installs Debian's Slurm and munge first when they are missing.
#
#   bash deploy/slurm/slurm-up.sh [run-dir]
#
# Settings (environment):
#   SWITCHYARD_SLURM_DIR    run directory (default /tmp/switchyard-slurm; the first argument wins)
#   SLURM_CTLD_PORT         slurmctld port (default 16817)
#   SLURM_SLURMD_PORT       slurmd port (default 16818)
#   SLURM_NODE_NAME         the node's name (default sy1)
#
# Afterwards `<run-dir>/slurm.env` holds SLURM_CONF=...; every Slurm command
# (and the Slurm provider) needs it:  set -a; . <run-dir>/slurm.env; set +a
# Idempotent: when the cluster in that directory is already up, it does nothing.
# Stop it with deploy/slurm/slurm-down.sh [run-dir].
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUN_DIR=${1:-${SWITCHYARD_SLURM_DIR:-/tmp/switchyard-slurm}}
CTLD_PORT=${SLURM_CTLD_PORT:-16817}
SLURMD_PORT=${SLURM_SLURMD_PORT:-16818}
NODE_NAME=${SLURM_NODE_NAME:-sy1}
ENV_FILE="$RUN_DIR/slurm.env"

log() { echo "slurm-up: $*" >&2; }
die() { log "error: $*"; exit 1; }

# --- install ---------------------------------------------------------------
find_bin() { command -v "$1" 2>/dev/null || { [ -x "/usr/sbin/$1" ] && echo "/usr/sbin/$1"; } || true; }
missing=()
for bin in sbatch slurmctld slurmd munged; do
  [ -n "$(find_bin "$bin")" ] || missing+=("$bin")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing ${missing[*]}; run as root to install slurmctld slurmd slurm-client munge"
  log "installing Slurm and munge (missing: ${missing[*]})"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi
PATH="$PATH:/usr/sbin:/sbin"
export PATH

# --- already up? -----------------------------------------------------------
alive() { local f=$1; [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; }
# Up: sinfo answers and the node is usable (it may be running jobs).
# %T: long state names (%t abbreviates them: mix, alloc, comp). A busy controller gets three tries.
node_usable() {
  local states try
  for try in 1 2 3; do
    if states=$(timeout 10 sinfo -h -o %T 2>/dev/null) && [ -n "$states" ]; then
      ! grep -qvE '^(idle|mixed|allocated|completing)$' <<<"$states"
      return
    fi
    sleep 1
  done
  return 1
}
if [ -f "$ENV_FILE" ] && alive "$RUN_DIR/munged.fg.pid" && alive "$RUN_DIR/slurmctld.fg.pid" && alive "$RUN_DIR/slurmd.fg.pid"; then
  if SLURM_CONF="$RUN_DIR/slurm.conf" node_usable; then
    log "the cluster in $RUN_DIR is already up"
    exit 0
  fi
fi
# Half up (a daemon died): stop what is left, then start afresh.
if [ -f "$RUN_DIR/slurmctld.fg.pid" ] || [ -f "$RUN_DIR/munged.fg.pid" ]; then
  log "stopping what is left of an earlier start in $RUN_DIR"
  bash "$HERE/slurm-down.sh" "$RUN_DIR" || true
fi

# --- configuration ---------------------------------------------------------
mkdir -p "$RUN_DIR"/{munge,state,spool,log}
# munged refuses a socket directory that is not executable for everyone.
chmod 755 "$RUN_DIR" "$RUN_DIR/munge"
rm -f "$ENV_FILE"
if [ ! -f "$RUN_DIR/munge/munge.key" ]; then
  dd if=/dev/urandom of="$RUN_DIR/munge/munge.key" bs=1024 count=1 status=none
  chmod 600 "$RUN_DIR/munge/munge.key"
fi
sed -e "s|@RUN_DIR@|$RUN_DIR|g" -e "s|@CTLD_PORT@|$CTLD_PORT|g" -e "s|@SLURMD_PORT@|$SLURMD_PORT|g" -e "s|@NODE_NAME@|$NODE_NAME|g" \
  "$HERE/slurm.conf.template" > "$RUN_DIR/slurm.conf"
export SLURM_CONF="$RUN_DIR/slurm.conf"

# --- daemons ---------------------------------------------------------------
# setsid: the daemons leave the caller's process group, so they outlive it; daemon-exec.sh
# leaves them none of the caller's file descriptors (a lock it holds, say).
rm -f "$RUN_DIR/munge/munge.socket"
# Daemons start in the run directory: job steps inherit slurmd's working directory,
# and one that disappears (a deleted checkout) makes every step print an error.
cd "$RUN_DIR"
setsid bash "$HERE/../daemon-exec.sh" "$RUN_DIR" /dev/null munged -F --socket="$RUN_DIR/munge/munge.socket" --key-file="$RUN_DIR/munge/munge.key" \
  --log-file="$RUN_DIR/munge/munged.log" --pid-file="$RUN_DIR/munge/munged.pid" --seed-file="$RUN_DIR/munge/munged.seed" \
  </dev/null >"$RUN_DIR/log/munged.stdout" 2>&1 &
echo $! > "$RUN_DIR/munged.fg.pid"
for _ in $(seq 1 250); do [ -S "$RUN_DIR/munge/munge.socket" ] && break; sleep 0.02; done
[ -S "$RUN_DIR/munge/munge.socket" ] || die "munged did not open its socket; see $RUN_DIR/munge/munged.log"

setsid bash "$HERE/../daemon-exec.sh" "$RUN_DIR" /dev/null slurmctld -D -i </dev/null >"$RUN_DIR/log/slurmctld.stdout" 2>&1 &
echo $! > "$RUN_DIR/slurmctld.fg.pid"
setsid bash "$HERE/../daemon-exec.sh" "$RUN_DIR" /dev/null slurmd -D -N "$NODE_NAME" </dev/null >"$RUN_DIR/log/slurmd.stdout" 2>&1 &
echo $! > "$RUN_DIR/slurmd.fg.pid"

up=0
for _ in $(seq 1 300); do
  for d in munged slurmctld slurmd; do
    alive "$RUN_DIR/$d.fg.pid" || die "$d exited while starting; see $RUN_DIR/log/"
  done
  if timeout 5 sinfo -h -o %T 2>/dev/null | grep -qxE 'idle|mixed|allocated'; then up=1; break; fi
  sleep 0.1
done
[ "$up" = 1 ] || die "the node did not become usable within 30 s; see $RUN_DIR/log/ (sinfo: $(sinfo -h -o '%P %t' 2>&1 | tr '\n' ' '))"

echo "SLURM_CONF=$SLURM_CONF" > "$ENV_FILE"
log "cluster up: $(sinfo -h -o '%P:%t:%C' | tr '\n' ' ')"
log "SLURM_CONF=$SLURM_CONF (written to $ENV_FILE)"
