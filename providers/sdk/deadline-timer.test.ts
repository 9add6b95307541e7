/**
 * The deadline timer under vitest's fake timers, which do as Node does with a
 * delay beyond 2^31-1 ms: fire it after 1 ms.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { createManualClock, systemClock } from '../../shared/clock.js';
import { createDeadlineTimer, MAX_TIMER_MS } from './index.js';

const DAY = 24 * 60 * 60 * 1000;

beforeEach(() => {
  vi.useFakeTimers({ now: Date.now() });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('createDeadlineTimer', () => {
  it('a plain setTimeout of 30 days fires at once: what the timer is for', () => {
    const fire = vi.fn();
    setTimeout(fire, 30 * DAY);
    vi.advanceTimersByTime(1);
    expect(fire).toHaveBeenCalledOnce();
  });

  it('does not fire a deadline 30 days away early, and fires it once when it is due', () => {
    const fire = vi.fn();
    const at = Date.now() + 30 * DAY;
    createDeadlineTimer(systemClock, at, fire);
    vi.advanceTimersByTime(1);
    expect(fire).not.toHaveBeenCalled();
    vi.advanceTimersByTime(MAX_TIMER_MS);
    expect(fire).not.toHaveBeenCalled();
    vi.advanceTimersByTime(at - Date.now() - 1);
    expect(fire).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fire).toHaveBeenCalledOnce();
    expect(Date.now()).toBe(at);
    vi.advanceTimersByTime(60 * DAY);
    expect(fire).toHaveBeenCalledOnce();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('cancelled, it never fires and leaves no timer', () => {
    const fire = vi.fn();
    const timer = createDeadlineTimer(systemClock, Date.now() + 40 * DAY, fire);
    vi.advanceTimersByTime(MAX_TIMER_MS + 1);
    timer.cancel();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(60 * DAY);
    expect(fire).not.toHaveBeenCalled();
  });

  it('fires a deadline already past on the next turn, not in the call', () => {
    const fire = vi.fn();
    createDeadlineTimer(systemClock, Date.now() - 1_000, fire);
    expect(fire).not.toHaveBeenCalled();
    vi.advanceTimersByTime(0);
    expect(fire).toHaveBeenCalledOnce();
  });

  it('goes by the clock it is given: not due while that clock says so, whatever the timers did', () => {
    const clock = createManualClock(Date.now());
    const fire = vi.fn();
    createDeadlineTimer(clock, clock.now() + 1_000, fire);
    vi.advanceTimersByTime(5_000);
    expect(fire).not.toHaveBeenCalled();
    clock.advance(1_000);
    vi.advanceTimersByTime(1_000);
    expect(fire).toHaveBeenCalledOnce();
  });

  it('does not keep the process alive: each step is unref’d', () => {
    const original = globalThis.setTimeout;
    const steps: NodeJS.Timeout[] = [];
    vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
      const timer = original(fn, ms);
      steps.push(timer);
      return timer;
    }) as typeof setTimeout);
    createDeadlineTimer(systemClock, Date.now() + 30 * DAY, () => undefined);
    vi.advanceTimersByTime(MAX_TIMER_MS);
    expect(steps).toHaveLength(2);
    expect(steps.map((timer) => timer.hasRef())).toEqual([false, false]);
  });
});
