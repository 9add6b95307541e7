/** Usage arithmetic: started price units of running time, times replicas, suspended and queued time excluded. */
import { describe, expect, it } from 'vitest';

import type { JobState } from '../../shared/domain.js';
import { makeJob, makeSpecification } from '../../test/support/jobs.js';
import { creditsFor, jobUsageUnits, nextUnitAt, runningMs, unitMs, usageUnits, type UsageTimeline } from './usage.js';

const T0 = Date.now();
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** A timeline from [state, ms after T0] pairs; `null` states are status-only updates. */
function timeline(changes: [JobState | null, number][], startedAt: number | null = null): UsageTimeline {
  return { startedAt, updates: changes.map(([state, at]) => ({ state, timestamp: T0 + at })) };
}

describe('price units', () => {
  it('are a minute, an hour and a day long', () => {
    expect(unitMs('CREDITS_PER_MINUTE')).toBe(MINUTE);
    expect(unitMs('CREDITS_PER_HOUR')).toBe(HOUR);
    expect(unitMs('CREDITS_PER_DAY')).toBe(DAY);
  });
});

describe('usage', () => {
  const running = timeline([
    ['IN_QUEUE', 0],
    ['RUNNING', 5 * MINUTE],
  ]);

  it('a job that has not started has used nothing', () => {
    const queued = timeline([['IN_QUEUE', 0]]);
    expect(usageUnits(queued, T0 + DAY, 'CREDITS_PER_MINUTE', 1)).toBe(0);
    expect(usageUnits({ startedAt: null, updates: [] }, T0 + DAY, 'CREDITS_PER_MINUTE', 1)).toBe(0);
  });

  it('counts every started unit: one second of running is one minute, an hour and a minute is two hours', () => {
    expect(usageUnits(running, T0 + 5 * MINUTE, 'CREDITS_PER_MINUTE', 1)).toBe(0);
    expect(usageUnits(running, T0 + 5 * MINUTE + 1, 'CREDITS_PER_MINUTE', 1)).toBe(1);
    expect(usageUnits(running, T0 + 5 * MINUTE + SECOND, 'CREDITS_PER_MINUTE', 1)).toBe(1);
    expect(usageUnits(running, T0 + 6 * MINUTE, 'CREDITS_PER_MINUTE', 1)).toBe(1);
    expect(usageUnits(running, T0 + 6 * MINUTE + 1, 'CREDITS_PER_MINUTE', 1)).toBe(2);
    expect(usageUnits(running, T0 + 5 * MINUTE + HOUR, 'CREDITS_PER_HOUR', 1)).toBe(1);
    expect(usageUnits(running, T0 + 5 * MINUTE + HOUR + MINUTE, 'CREDITS_PER_HOUR', 1)).toBe(2);
    expect(usageUnits(running, T0 + 5 * MINUTE + HOUR, 'CREDITS_PER_DAY', 1)).toBe(1);
    expect(usageUnits(running, T0 + 5 * MINUTE + 3 * DAY, 'CREDITS_PER_DAY', 1)).toBe(3);
    expect(usageUnits(running, T0 + 5 * MINUTE + 3 * DAY + 1, 'CREDITS_PER_DAY', 1)).toBe(4);
  });

  it('multiplies by replicas', () => {
    expect(usageUnits(running, T0 + 5 * MINUTE + 90 * SECOND, 'CREDITS_PER_MINUTE', 4)).toBe(8);
    expect(usageUnits(running, T0 + 5 * MINUTE + 2 * HOUR, 'CREDITS_PER_HOUR', 3)).toBe(6);
  });

  it('leaves out suspended time and time back in the queue', () => {
    const interrupted = timeline([
      ['IN_QUEUE', 0],
      ['RUNNING', 1 * MINUTE], // runs 2 min
      ['SUSPENDED', 3 * MINUTE],
      [null, 4 * MINUTE], // a status line changes nothing
      ['RUNNING', 10 * MINUTE], // runs 1 min
      ['IN_QUEUE', 11 * MINUTE],
      ['RUNNING', 20 * MINUTE], // runs until now
    ]);
    expect(runningMs(interrupted, T0 + 15 * MINUTE)).toBe(3 * MINUTE);
    expect(runningMs(interrupted, T0 + 20 * MINUTE + 30 * SECOND)).toBe(3 * MINUTE + 30 * SECOND);
    expect(usageUnits(interrupted, T0 + 20 * MINUTE + 30 * SECOND, 'CREDITS_PER_MINUTE', 2)).toBe(8);
    // Suspended: the total stops growing however long it stays so.
    const suspended = timeline([
      ['RUNNING', 0],
      ['SUSPENDED', 90 * SECOND],
    ]);
    expect(usageUnits(suspended, T0 + DAY, 'CREDITS_PER_MINUTE', 1)).toBe(2);
  });

  it('counts CANCELING as running, and stops at the final state', () => {
    const canceled = timeline([
      ['RUNNING', 0],
      ['CANCELING', 2 * MINUTE],
      ['SUCCESS', 2 * MINUTE + 10 * SECOND],
    ]);
    expect(runningMs(canceled, T0 + DAY)).toBe(2 * MINUTE + 10 * SECOND);
    expect(usageUnits(canceled, T0 + DAY, 'CREDITS_PER_MINUTE', 1)).toBe(3);
    for (const final of ['SUCCESS', 'FAILURE', 'EXPIRED'] as const) {
      const ended = timeline([
        ['RUNNING', 0],
        [final, 61 * SECOND],
        ['RUNNING', 2 * MINUTE], // nothing after a final state counts
      ]);
      expect(usageUnits(ended, T0 + HOUR, 'CREDITS_PER_MINUTE', 1)).toBe(2);
    }
    // A job that failed in the queue never ran.
    expect(
      usageUnits(
        timeline([
          ['IN_QUEUE', 0],
          ['FAILURE', MINUTE],
        ]),
        T0 + HOUR,
        'CREDITS_PER_MINUTE',
        1,
      ),
    ).toBe(0);
  });

  it('takes startedAt when no update says RUNNING, and never counts time after now', () => {
    expect(runningMs(timeline([['IN_QUEUE', 0]], T0 + MINUTE), T0 + 3 * MINUTE)).toBe(2 * MINUTE);
    expect(runningMs(timeline([], T0), T0 + 3 * MINUTE)).toBe(3 * MINUTE);
    // A RUNNING update wins over startedAt.
    expect(runningMs(timeline([['RUNNING', 2 * MINUTE]], T0), T0 + 3 * MINUTE)).toBe(MINUTE);
    // Updates stamped after `now` (clock skew between provider and gateway) count up to now only.
    expect(
      runningMs(
        timeline([
          ['RUNNING', 0],
          ['SUCCESS', 10 * MINUTE],
        ]),
        T0 + 4 * MINUTE,
      ),
    ).toBe(4 * MINUTE);
    expect(runningMs(timeline([['RUNNING', 5 * MINUTE]]), T0 + 4 * MINUTE)).toBe(0);
  });

  it('puts updates that arrived out of order back in time order', () => {
    const shuffled = timeline([
      ['RUNNING', 0],
      ['SUCCESS', 3 * MINUTE],
      ['SUSPENDED', MINUTE],
      ['RUNNING', 2 * MINUTE],
    ]);
    expect(runningMs(shuffled, T0 + HOUR)).toBe(2 * MINUTE);
  });

  it('reads a job: its updates, startedAt and replicas', () => {
    const job = makeJob({
      state: 'RUNNING',
      startedAt: T0,
      specification: makeSpecification({ replicas: 3 }),
      updates: [
        { state: 'IN_QUEUE', status: null, newTimeAllocation: null, timestamp: T0 - MINUTE },
        { state: 'RUNNING', status: 'started', newTimeAllocation: null, timestamp: T0 },
      ],
    });
    expect(jobUsageUnits(job, { unitOfPrice: 'CREDITS_PER_HOUR' }, T0 + 90 * MINUTE)).toBe(6);
    // A short unit, as a real-time test configures.
    expect(jobUsageUnits(job, { unitOfPrice: 'CREDITS_PER_MINUTE' }, T0 + 450, 100)).toBe(15);
  });
});

describe('credits', () => {
  it('are units times the price, and nothing for a free product', () => {
    expect(creditsFor({ freeToUse: false, pricePerUnit: 250 }, 7)).toBe(1750);
    expect(creditsFor({ freeToUse: false, pricePerUnit: 250 }, 0)).toBe(0);
    expect(creditsFor({ freeToUse: true, pricePerUnit: 250 }, 7)).toBe(0);
  });
});

describe('when a job next owes a unit', () => {
  const units = (line: UsageTimeline, at: number) => usageUnits(line, at, 'CREDITS_PER_MINUTE', 1);

  it('is the first millisecond past the running time its units pay for, and its units grow exactly then', () => {
    const line = timeline([['RUNNING', 0]]);
    for (const at of [T0, T0 + 1, T0 + 30 * SECOND, T0 + MINUTE, T0 + 7 * MINUTE + 123]) {
      const next = nextUnitAt(line, at, MINUTE)!;
      expect(next).toBeGreaterThan(at);
      expect(units(line, next)).toBe(units(line, at) + 1);
      expect(units(line, next - 1)).toBe(units(line, at));
    }
    expect(nextUnitAt(line, T0 + 30 * SECOND, MINUTE)).toBe(T0 + MINUTE + 1);
  });

  it('leaves out suspended time, and is null while nothing recorded runs it again', () => {
    const suspended = timeline([
      ['RUNNING', 0],
      ['SUSPENDED', 90 * SECOND],
    ]);
    expect(nextUnitAt(suspended, T0 + 10 * MINUTE, MINUTE)).toBeNull();
    const resumed = timeline([
      ['RUNNING', 0],
      ['SUSPENDED', 90 * SECOND],
      ['RUNNING', 10 * MINUTE],
    ]);
    // 90 s paid as 2 minutes: 30 s more running after the resume.
    expect(nextUnitAt(resumed, T0 + 5 * MINUTE, MINUTE)).toBe(T0 + 10 * MINUTE + 30 * SECOND + 1);
    expect(nextUnitAt(timeline([['IN_QUEUE', 0]]), T0, MINUTE)).toBeNull();
  });

  it('counts a stop recorded with a later timestamp than `at`: the job owes until then only', () => {
    const ending = timeline([
      ['RUNNING', 0],
      ['SUCCESS', 3 * MINUTE + 10 * SECOND],
    ]);
    expect(nextUnitAt(ending, T0 + 2 * MINUTE + 30 * SECOND, MINUTE)).toBe(T0 + 3 * MINUTE + 1);
    expect(nextUnitAt(ending, T0 + 3 * MINUTE + 5 * SECOND, MINUTE)).toBeNull();
  });
});
