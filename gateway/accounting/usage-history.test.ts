import { describe, expect, it } from 'vitest';

import { createManualClock } from '../../shared/clock.js';
import type { Job, JobState } from '../../shared/domain.js';
import { InvalidInputError } from '../../shared/errors.js';
import { MAX_BUCKETS, usageHistory } from './usage-history.js';

const HOUR = 3_600_000;
// The real now, rounded to an hour: the buckets line up however the day falls.
const clock = createManualClock(Math.floor(Date.now() / HOUR) * HOUR);
const t0 = clock.now();

function job(id: string, providerId: string, product: string, changes: [JobState, number][], replicas = 1): Job {
  return {
    id,
    owner: { createdBy: 'ana', project: 'genomics' },
    specification: { product: { id: product, category: 'c', provider: providerId }, replicas } as Job['specification'],
    state: changes.at(-1)![0],
    startedAt: changes.find(([s]) => s === 'RUNNING')?.[1] ?? null,
    expiresAt: null,
    exitCode: null,
    allowRestart: false,
    providerId,
    providerGeneratedId: null,
    createdAt: t0,
    updates: changes.map(([state, timestamp]) => ({ state, status: null, newTimeAllocation: null, timestamp })),
    acl: [],
    creditsCharged: 0,
    specHash: id,
  };
}

const products: Record<string, { cpu: number; memoryInGigs: number; gpu: number }> = {
  'gpu-4': { cpu: 16, memoryInGigs: 128, gpu: 4 },
  small: { cpu: 2, memoryInGigs: 4, gpu: 0 },
};
const productOf = (j: Job) => products[j.specification.product.id];

describe('usage over time', () => {
  it('splits each job over the buckets it ran in, stops counting at its end, and lists each provider', () => {
    clock.set(t0 + 4 * HOUR);
    const jobs = [
      // 90 minutes from the first half hour on: half an hour in bucket 0, an hour in bucket 1.
      job('a', 'hpc', 'gpu-4', [
        ['IN_QUEUE', t0],
        ['RUNNING', t0 + HOUR / 2],
        ['SUCCESS', t0 + 2 * HOUR],
      ]),
      // Suspended for an hour in the middle; two replicas.
      job(
        'b',
        'local',
        'small',
        [
          ['RUNNING', t0 + HOUR],
          ['SUSPENDED', t0 + 2 * HOUR],
          ['RUNNING', t0 + 3 * HOUR],
        ],
        2,
      ),
      // Never ran.
      job('c', 'hpc', 'gpu-4', [
        ['IN_QUEUE', t0],
        ['FAILURE', t0 + HOUR],
      ]),
    ];
    const history = usageHistory(jobs, { from: t0, to: t0 + 6 * HOUR, bucket: 'HOUR' }, clock.now(), productOf, ['cloud']);
    expect(history.map((p) => p.provider)).toEqual(['cloud', 'hpc', 'local']);
    const [cloud, hpc, local] = history;
    expect(cloud!.buckets.every((b) => b.jobs === 0 && b.cpuHours === 0)).toBe(true);
    expect(hpc!.buckets.map((b) => [b.gpuHours, b.cpuHours, b.jobs])).toEqual([
      [2, 8, 1],
      [4, 16, 1],
      [0, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
    ]);
    expect(hpc!.buckets[0]!.start).toBe(t0);
    expect(hpc!.buckets[1]!.memoryGigHours).toBe(128);
    // Running until now (4 h): buckets 1 and 3; the future ones are empty.
    expect(local!.buckets.map((b) => b.cpuHours)).toEqual([0, 4, 0, 4, 0, 0]);
    clock.advance(HOUR / 2);
    const later = usageHistory(jobs, { from: t0, to: t0 + 6 * HOUR, bucket: 'HOUR' }, clock.now(), productOf);
    expect(later.find((p) => p.provider === 'local')!.buckets[4]!.cpuHours).toBe(2);
    const days = usageHistory(jobs, { from: t0, to: t0 + 6 * HOUR, bucket: 'DAY' }, clock.now(), productOf);
    expect(days.find((p) => p.provider === 'hpc')!.buckets).toEqual([{ start: t0, cpuHours: 24, gpuHours: 6, memoryGigHours: 192, jobs: 1 }]);
  });

  it('refuses a range that is backwards, empty or too long for its buckets', () => {
    const range =
      (from: number, to: number, bucket: 'HOUR' | 'DAY' = 'HOUR') =>
      () =>
        usageHistory([], { from, to, bucket }, t0, productOf);
    expect(range(t0, t0)).toThrow(InvalidInputError);
    expect(range(t0, t0 - HOUR)).toThrow(InvalidInputError);
    expect(range(t0, t0 + (MAX_BUCKETS + 1) * HOUR)).toThrow(/at most 1000 buckets/);
    expect(usageHistory([], { from: t0, to: t0 + (MAX_BUCKETS + 1) * HOUR, bucket: 'DAY' }, t0, productOf)).toEqual([]);
    expect(range(Number.NaN, t0)).toThrow(InvalidInputError);
  });
});
