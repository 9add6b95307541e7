import { describe, expect, it } from 'vitest';

import { failuresAfter, restartDelay } from './restart-backoff.js';

const backoff = { initialMs: 1_000, maxMs: 10_000, factor: 2, resetAfterMs: 60_000 };

describe('service restart backoff', () => {
  it('doubles with each run that ended soon, up to the cap', () => {
    expect([0, 1, 2, 3, 4, 5].map((failures) => restartDelay(failures, backoff))).toEqual([1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
  });

  it('starts again from the initial delay after a run that lasted', () => {
    expect(failuresAfter(3, 59_999, backoff)).toBe(4);
    expect(failuresAfter(3, 60_000, backoff)).toBe(0);
  });
});
