/**
 * A sweep that every replica runs on a timer (schedules, services): one run at
 * a time, a failure logged and the next tick tried again. The timer only says
 * when to look; what is due is read from the injected clock inside the sweep,
 * so tests drive it by calling `sweep()` after moving their clock.
 */
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import { createSingleFlight } from '../../shared/single-flight.js';
import type { RecurringRecord, RecurringRecords } from '../store/store.js';

export interface PeriodicSweep {
  start(): void;
  stop(): Promise<void>;
  /** One pass now (what the timer runs); shares a pass already going. */
  sweep(): Promise<void>;
}

export function createPeriodicSweep(what: string, intervalMs: number, sweepOnce: () => Promise<void>, logger: Logger): PeriodicSweep {
  let timer: NodeJS.Timeout | null = null;
  const runs = createSingleFlight<void>();
  const sweep = () => runs.run(what, () => sweepOnce().catch((error: unknown) => logger.warn({ err: error }, `${what} sweep failed`)));
  return {
    start() {
      if (intervalMs <= 0 || timer) return;
      timer = setInterval(() => void sweep(), intervalMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = null;
      await runs.allSettled();
    },
    sweep,
  };
}

/** A sweep over the records due by the clock, each taken by `step` (one failing does not hold up the others). */
export function createDueSweep<Doc>(options: {
  what: string;
  records: RecurringRecords<Doc>;
  clock: Clock;
  logger: Logger;
  intervalMs: number;
  /** Records taken per sweep, soonest due first. */
  limit: number;
  step: (record: RecurringRecord<Doc>, now: number) => Promise<void>;
}): PeriodicSweep {
  const { what, records, clock, logger, step } = options;
  const sweepOnce = async () => {
    const now = clock.now();
    const due = await records.due(now, options.limit);
    await Promise.all(
      due.map((record) => step(record, now).catch((error: unknown) => logger.warn({ err: error, id: record.id }, `${what} step failed`))),
    );
  };
  return createPeriodicSweep(what, options.intervalMs, sweepOnce, logger);
}
