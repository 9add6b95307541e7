#!/usr/bin/env bash
# Stop the cluster slurm-up.sh started in a run directory: cancel every job
# first and wait for them to end (slurmstepd outlives slurmd otherwise), then
# stop slurmd, slurmctld and munged, each by its PID, and kill any slurmstepd
# of this cluster that is left.
#
#   bash deploy/slurm/slurm-down.sh [run-dir]     (default $SWITCHYARD_SLURM_DIR or /tmp/switchyard-slurm)
set -uo pipefail

RUN_DIR=${1:-${SWITCHYARD_SLURM_DIR:-/tmp/switchyard-slurm}}
export SLURM_CONF="$RUN_DIR/slurm.conf"
PATH="$PATH:/usr/sbin:/sbin"
log() { echo "slurm-down: $*" >&2; }

pid_of() { [ -f "$RUN_DIR/$1.fg.pid" ] && cat "$RUN_DIR/$1.fg.pid"; }
running() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# 1. Cancel every job and wait until the queue is empty.
if [ -f "$SLURM_CONF" ] && running "$(pid_of slurmctld)"; then
  ids=$(timeout 10 squeue -h -o %i 2>/dev/null | tr '\n' ' ')
  if [ -n "${ids// /}" ]; then
    log "cancelling jobs: $ids"
    # shellcheck disable=SC2086
    timeout 10 scancel --full $ids 2>/dev/null || true
    for _ in $(seq 1 150); do
      [ -z "$(timeout 5 squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.2
    done
  fi
fi

# 2. The daemons, in order, each by its PID.
stop() {
  local name=$1 pid
  pid=$(pid_of "$name") || true
  if running "$pid"; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 100); do running "$pid" || break; sleep 0.1; done
    if running "$pid"; then log "$name ($pid) ignored SIGTERM; killing it"; kill -9 "$pid" 2>/dev/null; fi
    log "stopped $name ($pid)"
  fi
  rm -f "$RUN_DIR/$name.fg.pid"
}
stop slurmd
stop slurmctld
stop munged

# 3. slurmstepd processes of this cluster (their environment names our slurm.conf).
for dir in /proc/[0-9]*; do
  pid=${dir#/proc/}
  [ "$(cat "$dir/comm" 2>/dev/null)" = slurmstepd ] || continue
  if tr '\0' '\n' < "$dir/environ" 2>/dev/null | grep -qx "SLURM_CONF=$SLURM_CONF"; then
    log "killing leftover slurmstepd $pid"
    kill -9 "$pid" 2>/dev/null || true
  fi
done
rm -f "$RUN_DIR/slurm.env"
exit 0
