import { describe, expect, it } from 'vitest';

import { createAgenda, type Wakeup } from './agenda.js';

const wakeup = (at: number, seq: number, jobId = `job-${seq}`): Wakeup => ({ at, seq, jobId, generation: 0 });

describe('the simulation agenda', () => {
  it('hands out wake-ups by virtual time, whatever order they were put on it', () => {
    const agenda = createAgenda();
    const times = [50, 10, 40, 30, 20, 60, 0, 70, 5, 45];
    times.forEach((at, seq) => agenda.push(wakeup(at, seq)));
    expect(agenda.size).toBe(times.length);
    const out: number[] = [];
    for (let next = agenda.pop(); next; next = agenda.pop()) out.push(next.at);
    expect(out).toEqual([...times].sort((a, b) => a - b));
    expect(agenda.size).toBe(0);
  });

  it('runs wake-ups of the same moment in the order they were scheduled', () => {
    const agenda = createAgenda();
    for (const seq of [3, 1, 4, 0, 2]) agenda.push(wakeup(100, seq));
    agenda.push(wakeup(99, 9));
    expect(agenda.peek()?.seq).toBe(9);
    expect(Array.from({ length: 6 }, () => agenda.pop()!.seq)).toEqual([9, 0, 1, 2, 3, 4]);
  });

  it('keeps order over a long run of interleaved pushes and pops', () => {
    const agenda = createAgenda();
    let seed = 7;
    const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
    let seq = 0;
    let last = -1;
    for (let round = 0; round < 2_000; round++) {
      // Time moves forward: new wake-ups are never earlier than the last one run.
      agenda.push(wakeup(Math.max(last, 0) + Math.floor(random() * 1_000), seq++));
      if (random() < 0.45) {
        const next = agenda.pop()!;
        expect(next.at).toBeGreaterThanOrEqual(last);
        last = next.at;
      }
    }
    expect(agenda.peek()).toBeDefined();
  });

  it('answers nothing when empty', () => {
    const agenda = createAgenda();
    expect(agenda.peek()).toBeUndefined();
    expect(agenda.pop()).toBeUndefined();
  });
});
