import { describe, expect, it } from 'vitest';

import { decideFiring, nextFireAfter, parseCron } from './cron-schedule.js';

const at = (iso: string) => Date.parse(iso);
const MIN = 60_000;

describe('cron schedules', () => {
  it('reads the expression in its time zone, across a daylight-saving change', () => {
    // Berlin moves to summer time on 2026-03-29: 09:00 local is 08:00Z before it, 07:00Z after.
    const cron = parseCron('0 9 * * *', 'Europe/Berlin', at('2026-03-27T12:00:00Z'));
    expect(new Date(nextFireAfter(cron, at('2026-03-27T12:00:00Z'))!).toISOString()).toBe('2026-03-28T08:00:00.000Z');
    expect(new Date(nextFireAfter(cron, at('2026-03-28T12:00:00Z'))!).toISOString()).toBe('2026-03-29T07:00:00.000Z');
  });

  it('refuses bad expressions and time zones with INVALID_INPUT', () => {
    const now = at('2026-01-01T00:00:00Z');
    for (const [expression, zone] of [
      ['61 * * * *', 'UTC'],
      ['* * *', 'UTC'],
      ['*/5 * * * * *', 'UTC'],
      ['0 0 31 2 *', 'UTC'],
      ['', 'UTC'],
      ['0 9 * * *', 'Mars/Olympus'],
      ['0 9 * * *', ''],
    ]) {
      expect(() => parseCron(expression!, zone!, now), `${expression} in ${zone}`).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
    }
    expect(() => parseCron('@hourly', 'UTC', now)).not.toThrow();
  });

  it('fires on time, catches up the latest missed firing once (RUN_ONCE), or drops them (SKIP)', () => {
    const cron = parseCron('*/10 * * * *', 'UTC', 0);
    const base = { graceMs: MIN, catchUpMs: 60 * MIN };
    // Found 5 s late: on time.
    expect(decideFiring(cron, { ...base, policy: 'SKIP', nextFireAt: at('2026-01-01T10:00:00Z'), now: at('2026-01-01T10:00:05Z') })).toEqual({
      fireAt: at('2026-01-01T10:00:00Z'),
      catchUp: false,
      dropped: 0,
      countCapped: false,
      next: at('2026-01-01T10:10:00Z'),
    });
    // No gateway from 10:00 to 10:35: three firings missed, the latest (10:30) caught up.
    const missed = { nextFireAt: at('2026-01-01T10:00:00Z'), now: at('2026-01-01T10:35:00Z') };
    expect(decideFiring(cron, { ...base, ...missed, policy: 'RUN_ONCE' })).toMatchObject({
      fireAt: at('2026-01-01T10:30:00Z'),
      catchUp: true,
      dropped: 3,
      next: at('2026-01-01T10:40:00Z'),
    });
    expect(decideFiring(cron, { ...base, ...missed, policy: 'SKIP' })).toMatchObject({ fireAt: null, dropped: 4, next: at('2026-01-01T10:40:00Z') });
    // Beyond the catch-up window: dropped either way.
    expect(
      decideFiring(cron, {
        ...base,
        catchUpMs: 2 * MIN,
        policy: 'RUN_ONCE',
        nextFireAt: at('2026-01-01T10:00:00Z'),
        now: at('2026-01-01T12:05:00Z'),
      }),
    ).toMatchObject({ fireAt: null, dropped: 13 });
    // An on-time firing wins over the missed ones: still one job.
    expect(
      decideFiring(cron, { ...base, policy: 'RUN_ONCE', nextFireAt: at('2026-01-01T10:00:00Z'), now: at('2026-01-01T10:30:20Z') }),
    ).toMatchObject({ fireAt: at('2026-01-01T10:30:00Z'), catchUp: false, dropped: 3 });
    // Not due yet.
    expect(
      decideFiring(cron, { ...base, policy: 'RUN_ONCE', nextFireAt: at('2026-01-01T10:00:00Z'), now: at('2026-01-01T09:59:59Z') }),
    ).toMatchObject({
      fireAt: null,
      dropped: 0,
    });
  });
});
