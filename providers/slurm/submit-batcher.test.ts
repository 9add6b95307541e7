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

  it('holds ready items while more are being prepared than the free slots take, and sends them together once the last is ready', async () => {
    const { batcher, batches, endNext } = setUp(3, 10, 10_000);
    const announced = ['a:1', 'a:2', 'b:1', 'a:3'].map((item) => ({ item, prepared: batcher.prepare() }));
    const results = announced.slice(0, 3).map(({ item, prepared }) => prepared.submit(item));
    // Three slots are free for four items, one of them not ready yet: the three wait for it.
    expect(batches).toEqual([]);
    expect(batcher.waiting).toBe(3);
    results.push(announced[3]!.prepared.submit('a:3'));
    expect(batches).toEqual([['a:1', 'a:2', 'a:3'], ['b:1']]);
    await endNext();
    await endNext();
    expect(await Promise.all(results)).toEqual(['a:1', 'a:2', 'b:1', 'a:3'].map((item) => `done ${item}`));

    // Nothing announced beside it: an item goes the moment it is ready, however soon after the others.
    const alone = batcher.prepare().submit('a:4');
    expect(batches.at(-1)).toEqual(['a:4']);
    await endNext();
    expect(await alone).toBe('done a:4');

    // As many as the free slots take: each goes alone as it is ready.
    const few = batcher.prepare();
    const first = batcher.prepare().submit('a:5');
    expect(batches.at(-1)).toEqual(['a:5']);
    const second = few.submit('a:6');
    expect(batches.at(-1)).toEqual(['a:6']);
    await endNext();
    await endNext();
    expect(await Promise.all([first, second])).toEqual(['done a:5', 'done a:6']);
  });

  it('sends what is ready after gatherMs when an announced item is slow, and at once when it is abandoned', async () => {
    const { batcher, batches, endNext } = setUp(1, 10, 40);
    const slow = batcher.prepare();
    const ready = batcher.prepare().submit('a:1');
    expect(batches).toEqual([]);
    await vi.waitFor(() => expect(batches).toEqual([['a:1']]), { timeout: 5_000, interval: 5 });
    await endNext();
    expect(await ready).toBe('done a:1');

    const waiting = batcher.prepare().submit('a:2');
    expect(batches).toHaveLength(1);
    slow.abandon();
    expect(batches.at(-1)).toEqual(['a:2']);
    await endNext();
    expect(await waiting).toBe('done a:2');
    expect(() => slow.abandon()).toThrow('once');
  });

  it('gathers nothing when batches hold one item', async () => {
    const { batcher, batches, endNext } = setUp(3, 1, 1_000);
    batcher.prepare();
    const results = ['a:1', 'a:2', 'a:3'].map((item) => batcher.prepare().submit(item));
    expect(batches).toEqual([['a:1'], ['a:2'], ['a:3']]);
    for (let k = 0; k < 3; k += 1) await endNext();
    await Promise.all(results);
  });
});
