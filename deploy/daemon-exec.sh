#!/usr/bin/env bash
# Become a daemon's process: `setsid bash deploy/daemon-exec.sh DIR PIDFILE COMMAND...`
# goes to DIR, writes its pid to PIDFILE (the daemon's own pid: setsid forks when the
# caller leads a process group) and execs COMMAND with no file descriptor of its
# caller's but 0-2. A daemon that kept one would hold it for its whole life: started
# under `flock LOCK ...`, it would keep the lock taken long after the caller ended.
cd "$1" || exit 1
echo $$ > "$2"
shift 2
for fd in /proc/$$/fd/*; do
  fd=${fd##*/}
  [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null
done
exec "$@"
