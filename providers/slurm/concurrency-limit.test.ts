import { describe, expect, it } from 'vitest';

import { createConcurrencyLimit } from './concurrency-limit.js';

describe('a concurrency limit', () => {
  it('runs at most its limit at once, the rest in the order they came, saying which had to wait, and survives failures', async () => {
    const limit = createConcurrencyLimit(2);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const waited: number[] = [];
    const work = (i: number) =>
      limit.run(
        async () => {
          started.push(i);
          running += 1;
          most = Math.max(most, running);
          await new Promise((resolve) => setTimeout(resolve, 5));
          running -= 1;
          if (i === 1) throw new Error('refused');
          return i;
        },
        () => waited.push(i),
      );
    const results = await Promise.allSettled([0, 1, 2, 3, 4].map(work));
    expect(most).toBe(2);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(waited).toEqual([2, 3, 4]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : 'refused'))).toEqual([0, 'refused', 2, 3, 4]);
    // Free again: the next runs at once.
    expect(await limit.run(async () => 'again')).toBe('again');
  });
});
