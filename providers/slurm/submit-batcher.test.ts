import { setTimeout as sleep } from 'node:timers/promises';

import { describe, expect, it, vi } from 'vitest';

import { createSubmitBatcher } from './submit-batcher.js';

/** A batcher whose submissions end when the test says so. */
function setUp(slots: number, maxBatch: number, gatherMs = 0) {
  const batches: string[][] = [];
  const ends: Array<() => void> = [];
  const batcher = createSubmitBatcher<string, string>({
    slots,
    maxBatch,
    gatherMs,
    key: (item) => item.split(':')[0]!,
    submit: async (items) => {
      batches.push(items);
      await new Promise<void>((resolve) => ends.push(resolve));
      return items.map((item) =>
        item.endsWith('!') ? { status: 'rejected', reason: new Error(`refused ${item}`) } : { status: 'fulfilled', value: `done ${item}` },
      );
    },
  });
  const endNext = async () => {
    ends.shift()!();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { batcher, batches, endNext };
}

describe('the submit batcher', () => {
  it('sends an item alone at once while a slot is free, and gathers those that wait, by key, first come first served', async () => {
    const { batcher, batches, endNext } = setUp(2, 10);
    const results = ['a:1', 'a:2', 'a:3', 'b:1', 'a:4', 'b:2'].map((item) => batcher.submit(item));
    // Two slots: the first two go alone; the others wait.
    expect(batches).toEqual([['a:1'], ['a:2']]);
    expect(batcher.waiting).toBe(4);
    await endNext();
    // The first waiter's key, with every later waiter of that key.
    expect(batches[2]).toEqual(['a:3', 'a:4']);
    await endNext();
    expect(batches[3]).toEqual(['b:1', 'b:2']);
    expect(batcher.waiting).toBe(0);
    await endNext();
    await endNext();
    expect(await Promise.all(results)).toEqual(['a:1', 'a:2', 'a:3', 'b:1', 'a:4', 'b:2'].map((item) => `done ${item}`));
  });

  it('keeps batches to their largest size, and with 1 sends every item alone', async () => {
    const capped = setUp(1, 2);
    const results = ['a:1', 'a:2', 'a:3', 'a:4'].map((item) => capped.batcher.submit(item));
    await capped.endNext();
    expect(capped.batches).toEqual([['a:1'], ['a:2', 'a:3']]);
    await capped.endNext();
    await capped.endNext();
    expect(capped.batches.at(-1)).toEqual(['a:4']);
    await Promise.all(results);

    const alone = setUp(1, 1);
    const more = ['a:1', 'a:2', 'a:3'].map((item) => alone.batcher.submit(item));
    for (let k = 0; k < 3; k += 1) await alone.endNext();
    expect(alone.batches).toEqual([['a:1'], ['a:2'], ['a:3']]);
    await Promise.all(more);
  });

  it('answers each item its own outcome, and a batch that throws fails each of its items', async () => {
    const { batcher, endNext } = setUp(1, 10);
    const first = expect(batcher.submit('a:1')).resolves.toBe('done a:1');
    const refused = expect(batcher.submit('a:2!')).rejects.toThrow('refused a:2!');
    const fine = expect(batcher.submit('a:3')).resolves.toBe('done a:3');
    await endNext();
    await endNext();
    await Promise.all([first, refused, fine]);

    const throwing = createSubmitBatcher<string, string>({
      slots: 1,
      maxBatch: 10,
      key: () => 'k',
      submit: async () => {
        throw new Error('slurmctld is down');
      },
    });
    await expect(Promise.all([throwing.submit('x'), throwing.submit('y')])).rejects.toThrow('slurmctld is down');
    await expect(throwing.submit('z')).rejects.toThrow('slurmctld is down');
  });

  it('sends the first item of a burst at once and gathers the rest for gatherMs, even while slots are free; an item after a pause goes at once', async () => {
    const gatherMs = 40;
    const { batcher, batches, endNext } = setUp(4, 10, gatherMs);
    const results = ['a:1', 'a:2', 'a:3', 'b:1', 'a:4'].map((item) => batcher.submit(item));
    // Three slots are free, but the four after the first arrived within gatherMs of it: they wait.
    expect(batches).toEqual([['a:1']]);
    expect(batcher.waiting).toBe(4);
    await vi.waitFor(() => expect(batches).toHaveLength(3), { timeout: 5_000, interval: 5 });
    expect(batches.slice(1)).toEqual([
      ['a:2', 'a:3', 'a:4'],
      ['b:1'],
    ]);
    for (let k = 0; k < 3; k += 1) await endNext();
    expect(await Promise.all(results)).toEqual(['a:1', 'a:2', 'a:3', 'b:1', 'a:4'].map((item) => `done ${item}`));

    // Idle again: the next item goes alone the moment it arrives.
    await sleep(gatherMs * 2);
    const later = batcher.submit('a:5');
    expect(batches.at(-1)).toEqual(['a:5']);
    await endNext();
    expect(await later).toBe('done a:5');
  });

  it('gathers nothing when batches hold one item', async () => {
    const { batcher, batches, endNext } = setUp(3, 1, 1_000);
    const results = ['a:1', 'a:2', 'a:3'].map((item) => batcher.submit(item));
    expect(batches).toEqual([['a:1'], ['a:2'], ['a:3']]);
    for (let k = 0; k < 3; k += 1) await endNext();
    await Promise.all(results);
  });
});
