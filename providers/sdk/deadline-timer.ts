/**
 * A timer at an absolute time by a driver's clock, for deadlines such as a
 * job's time allocation. Node's setTimeout takes at most 2^31-1 ms (about 24.8
 * days) and fires at once beyond that, so a 30-day allocation armed with one
 * setTimeout would end the job straight away: this one waits in steps no
 * longer than that, checking the clock after each.
 */
import type { Clock } from '../../shared/clock.js';

/** The longest delay setTimeout takes; longer waits go in steps of at most this. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface DeadlineTimer {
  /** It will not fire (nothing happens if it has). */
  cancel(): void;
}

/**
 * Calls `fire` once, on a later turn of the event loop, when `clock` says `at`
 * (epoch ms) has come; at once if it has already. Unref'd: a deadline alone
 * does not keep the process alive.
 */
export function createDeadlineTimer(clock: Clock, at: number, fire: () => void): DeadlineTimer {
  let timer: NodeJS.Timeout | null = null;
  const arm = () => {
    timer = setTimeout(
      () => {
        // Early by the clock: a step of a long wait.
        if (clock.now() < at) return arm();
        timer = null;
        fire();
      },
      Math.max(0, Math.min(at - clock.now(), MAX_TIMER_MS)),
    );
    timer.unref();
  };
  arm();
  return {
    cancel() {
      if (timer) clearTimeout(timer);
      timer = null;
    },
  };
}
