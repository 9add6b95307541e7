/**
 * When a schedule fires: its cron expression read by croner in its IANA time
 * zone (daylight saving included), and what a sweep does with the firings due
 * by now. Pure: the caller gives the time.
 *
 * The missed-firings policy: a firing found within `graceMs` of its time is on
 * time and fires. Older ones were missed (no gateway ran, or none swept): with
 * SKIP they are dropped; with RUN_ONCE, when no firing is on time, the latest
 * missed one fires once if it is within the catch-up window, and the others
 * are dropped. Either way the schedule moves on to its next time after now, so
 * a sweep makes at most one job per schedule.
 */
import { Cron } from 'croner';

import { InvalidInputError } from '../../shared/errors.js';

export type MissedFiringPolicy = 'RUN_ONCE' | 'SKIP';

/** Fire times a sweep looks at before giving up counting (a per-second pattern over a week is far fewer than this). */
const MAX_ENUMERATED = 100_000;
const MAX_EXPRESSION = 256;

/** Throws INVALID_INPUT unless `timeZone` is an IANA time zone this runtime knows. */
export function checkTimeZone(timeZone: string): void {
  try {
    // Throws RangeError for a name outside the runtime's IANA database.
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch {
    throw new InvalidInputError(`"${timeZone.slice(0, 64)}" is not an IANA time zone (e.g. "Europe/Berlin", "UTC")`);
  }
}

/**
 * The schedule of a five-field cron expression (minute hour day-of-month month day-of-week) or a
 * nickname (@hourly, @daily, …) in `timeZone`; INVALID_INPUT for anything else, or one that never
 * fires after `now`.
 */
export function parseCron(expression: string, timeZone: string, now: number): Cron {
  checkTimeZone(timeZone);
  const trimmed = expression.trim();
  if (trimmed.length === 0 || trimmed.length > MAX_EXPRESSION) throw new InvalidInputError(`A cron expression has 1 to ${MAX_EXPRESSION} characters`);
  // Croner also takes a seconds field; Switchyard's schedules fire at most once a minute.
  if (!trimmed.startsWith('@') && trimmed.split(/\s+/).length !== 5) {
    throw new InvalidInputError(`"${trimmed.slice(0, 64)}" is not a cron expression of five fields (minute hour day-of-month month day-of-week)`);
  }
  let cron: Cron;
  try {
    cron = new Cron(trimmed, { timezone: timeZone, paused: true });
  } catch (error) {
    throw new InvalidInputError(`"${trimmed.slice(0, 64)}" is not a cron expression: ${(error as Error).message}`);
  }
  if (nextFireAfter(cron, now) === null) throw new InvalidInputError(`"${trimmed.slice(0, 64)}" never fires`);
  return cron;
}

/** The first fire time strictly after `after` (epoch ms); null when there is none. */
export function nextFireAfter(cron: Cron, after: number): number | null {
  return cron.nextRun(new Date(after))?.getTime() ?? null;
}

export interface FiringDecision {
  /** The fire time to make a job for now; null: none this sweep. */
  fireAt: number | null;
  /** `fireAt` was missed and is caught up (RUN_ONCE). */
  catchUp: boolean;
  /** Fire times dropped: missed and not caught up (at least this many when `countCapped`). */
  dropped: number;
  countCapped: boolean;
  /** The schedule's next fire time after now; null: it never fires again. */
  next: number | null;
}

/** What a sweep at `now` does with a schedule whose next fire time is `nextFireAt` (see the policy above). */
export function decideFiring(
  cron: Cron,
  options: { nextFireAt: number; now: number; graceMs: number; policy: MissedFiringPolicy; catchUpMs: number },
): FiringDecision {
  const { nextFireAt, now, graceMs, policy, catchUpMs } = options;
  const next = nextFireAfter(cron, now);
  if (nextFireAt > now) return { fireAt: null, catchUp: false, dropped: 0, countCapped: false, next: nextFireAt };
  const onTimeFrom = now - graceMs;
  // Times older than both windows can only be dropped: counted, not kept.
  const keepFrom = now - Math.max(graceMs, policy === 'RUN_ONCE' ? catchUpMs : 0);
  let dropped = 0;
  let countCapped = false;
  let t: number | null = nextFireAt;
  for (let seen = 0; t !== null && t < keepFrom; t = nextFireAfter(cron, t)) {
    if (++seen > MAX_ENUMERATED) {
      // Enough counted: on to the first time in the windows.
      countCapped = true;
      t = nextFireAfter(cron, keepFrom - 1);
      break;
    }
    dropped += 1;
  }
  let latestMissed: number | null = null;
  let onTime: number | null = null;
  for (; t !== null && t <= now; t = nextFireAfter(cron, t)) {
    if (t >= onTimeFrom) {
      if (onTime !== null) dropped += 1;
      onTime = t;
    } else {
      if (latestMissed !== null) dropped += 1;
      latestMissed = t;
    }
  }
  if (onTime !== null) return { fireAt: onTime, catchUp: false, dropped: dropped + (latestMissed === null ? 0 : 1), countCapped, next };
  const caughtUp = latestMissed !== null && policy === 'RUN_ONCE' && now - latestMissed <= catchUpMs;
  return {
    fireAt: caughtUp ? latestMissed : null,
    catchUp: caughtUp,
    dropped: dropped + (latestMissed !== null && !caughtUp ? 1 : 0),
    countCapped,
    next,
  };
}
