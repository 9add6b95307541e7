import { describe, expect, it } from 'vitest';

import { createEventOrder, PredecessorPendingError } from './event-order.js';

/** An order over a store that has applied `applied`, on a clock the test drives. */
function orderOver(applied: string[], maxWaitMs = 30_000) {
  const inStore = new Set(applied);
  let now = 1_000;
  const asked: string[] = [];
  const order = createEventOrder({
    applied: async (jobId, eventId) => {
      asked.push(`${jobId}/${eventId}`);
      return inStore.has(eventId);
    },
    maxWaitMs,
    now: () => now,
  });
  return { order, inStore, asked, advance: (ms: number) => (now += ms) };
}

const event = (eventId: string, after: string | null) => ({ eventId, jobId: 'j1', after });

describe('event order', () => {
  it('lets a job’s first event and one whose predecessor is in the store through', async () => {
    const { order, asked } = orderOver(['i:1']);
    await expect(order.admit(event('i:1', null))).resolves.toBe('ready');
    await expect(order.admit(event('i:2', 'i:1'))).resolves.toBe('ready');
    expect(asked).toEqual(['j1/i:1']);
  });

  it('holds an event that came before its predecessor until that one is applied', async () => {
    const { order, inStore } = orderOver(['i:1']);
    // i:2 was lost with a dead server; i:3 comes first.
    await expect(order.admit(event('i:3', 'i:2'))).rejects.toBeInstanceOf(PredecessorPendingError);
    await expect(order.admit(event('i:3', 'i:2'))).rejects.toThrow('event i:3 waits for i:2, the event before it');
    inStore.add('i:2');
    await expect(order.admit(event('i:3', 'i:2'))).resolves.toBe('ready');
  });

  it('needs no store round trip for a predecessor handled here, applied or refused', async () => {
    const { order, asked } = orderOver([]);
    order.handled('i:1');
    await expect(order.admit(event('i:2', 'i:1'))).resolves.toBe('ready');
    expect(asked).toEqual([]);
  });

  it('applies an event whose predecessor never comes once it waited the bound, counted from its first hold', async () => {
    const { order, advance } = orderOver([], 10_000);
    await expect(order.admit(event('i:3', 'i:2'))).rejects.toBeInstanceOf(PredecessorPendingError);
    advance(9_999);
    await expect(order.admit(event('i:3', 'i:2'))).rejects.toBeInstanceOf(PredecessorPendingError);
    advance(1);
    await expect(order.admit(event('i:3', 'i:2'))).resolves.toBe('overdue');
    // Another event starts its own wait.
    await expect(order.admit(event('i:4', 'i:3'))).rejects.toBeInstanceOf(PredecessorPendingError);
  });

  it('asks for a held event again soon at first, then as long as it has waited, up to a second', async () => {
    const { order, advance } = orderOver([]);
    const delay = async () => {
      const error = await order.admit(event('i:3', 'i:2')).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PredecessorPendingError);
      return (error as PredecessorPendingError).delayMs;
    };
    expect(await delay()).toBe(20);
    advance(150);
    expect(await delay()).toBe(150);
    advance(5_000);
    expect(await delay()).toBe(1_000);
  });
});
