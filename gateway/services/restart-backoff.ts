/**
 * How long a service waits before its next run: exponential in the runs that
 * ended soon in a row, capped. The delay is kept in the store and timed by the
 * injected clock, so every replica (and a restarted gateway) honours it; that
 * is why this is not p-retry, whose waits are timers of one process.
 */
export interface RestartBackoff {
  initialMs: number;
  maxMs: number;
  factor: number;
  /** A run that lasted this long resets the delay to `initialMs`. */
  resetAfterMs: number;
}

/** The delay before the next run after `failures` runs in a row that ended soon (0: the first restart). */
export function restartDelay(failures: number, backoff: RestartBackoff): number {
  return Math.min(backoff.maxMs, Math.round(backoff.initialMs * backoff.factor ** Math.max(0, failures)));
}

/** The failures in a row after a run that lasted `ranMs`. */
export function failuresAfter(failures: number, ranMs: number, backoff: RestartBackoff): number {
  return ranMs >= backoff.resetAfterMs ? 0 : failures + 1;
}
