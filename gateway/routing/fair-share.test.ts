import { describe, expect, it } from 'vitest';

import { decayedValue, expectedCost, FAIR_SHARE_HALF_LIFE_MS, fairShareOrder, weightOf, type QueueEntry } from './fair-share.js';
import { amountsOf, appliesTo, cellsOf, checksFor, firstExceeded, quotaReason, type QuotaRecord } from './quota-rules.js';

const entry = (jobId: string, workspace: string, cost = 10, priority: number | null = null): QueueEntry => ({ jobId, workspace, priority, cost });

describe('fair-share order', () => {
  it('takes the least-used workspace first, its usage growing with each job taken, then priority, then age', () => {
    const entries = [entry('01', 'a'), entry('02', 'b'), entry('03', 'c'), entry('04', 'a'), entry('05', 'b', 10, 1), entry('06', 'c')];
    const order = fairShareOrder(entries, new Map([['a', 25]]));
    // b and c start at 0; b's HIGH job first (a tie on usage goes to the higher priority head), then c's oldest.
    expect(order.map((e) => e.jobId)).toEqual(['05', '03', '02', '06', '01', '04']);
  });

  it('keeps a workspace that sends big jobs behind one that sends small ones', () => {
    const entries = [entry('01', 'big', 100), entry('02', 'big', 100), entry('03', 'small', 10), entry('04', 'small', 10)];
    expect(fairShareOrder(entries, new Map()).map((e) => e.jobId)).toEqual(['01', '03', '04', '02']);
  });

  it('decays usage by half per half-life and counts a job by its CPUs, GPUs and time allocation', () => {
    expect(decayedValue({ value: 100, at: 0 }, FAIR_SHARE_HALF_LIFE_MS)).toBeCloseTo(50);
    expect(decayedValue({ value: 100, at: 0 }, 2 * FAIR_SHARE_HALF_LIFE_MS)).toBeCloseTo(25);
    expect(decayedValue(null, 5)).toBe(0);
    const amounts = amountsOf({ cpu: 16, memoryInGigs: 128, gpu: 4 }, 2);
    expect(amounts).toEqual({ jobs: 1, cpu: 32, memoryInGigs: 256, gpu: 8 });
    expect(weightOf(amounts)).toBe(32 + 8 * 8);
    expect(expectedCost(96, 3_600_000)).toBe(96 * 3600);
    expect(expectedCost(1, null)).toBe(3600);
  });
});

describe('quota rules', () => {
  const quota = (over: Partial<QuotaRecord>): QuotaRecord => ({
    project: 'genomics',
    user: null,
    provider: null,
    category: null,
    limits: { gpu: 8 },
    setBy: 'admin',
    setAt: 0,
    ...over,
  });
  const owner = { createdBy: 'ana', project: 'genomics' };

  it('applies a quota to the jobs of its workspace, member, provider and category only', () => {
    expect(appliesTo(quota({ provider: 'hpc' }), owner, 'hpc', 'gpu')).toBe(true);
    expect(appliesTo(quota({ provider: 'hpc' }), owner, 'cloud', 'gpu')).toBe(false);
    expect(appliesTo(quota({ category: 'gpu' }), owner, 'cloud', 'cpu')).toBe(false);
    expect(appliesTo(quota({ user: 'ben' }), owner, 'hpc', 'gpu')).toBe(false);
    expect(appliesTo(quota({ project: 'other' }), owner, 'hpc', 'gpu')).toBe(false);
    // Ana's own workspace is not the project.
    expect(appliesTo(quota({ project: null, user: 'ana' }), owner, 'hpc', 'gpu')).toBe(false);
    expect(appliesTo(quota({ project: null, user: 'ana' }), { createdBy: 'ana', project: null }, 'hpc', 'gpu')).toBe(true);
  });

  it('counts a job in every cell a quota can read, and names the first limit it would pass', () => {
    expect(cellsOf(owner, 'hpc', 'gpu')).toHaveLength(8);
    expect(cellsOf({ createdBy: 'ana', project: null }, 'hpc', 'gpu')).toHaveLength(4);
    const quotas = [quota({ provider: 'hpc', limits: { jobs: 10, gpu: 8 } })];
    const checks = checksFor(quotas, owner, 'hpc', 'gpu', amountsOf({ cpu: 16, memoryInGigs: 1, gpu: 4 }, 1));
    expect(checks.map((c) => c.resource)).toEqual(['jobs', 'gpu']);
    const counters = { [checks[1]!.check.field]: 8 };
    expect(
      firstExceeded(
        checks.map((c) => c.check),
        counters,
      ),
    ).toBe(1);
    expect(quotaReason(checks[1]!.quota, 'gpu', 8)).toBe('project genomics: 8 of 8 GPUs in use on hpc');
    expect(quotaReason(quota({ user: 'ana', category: 'gpu', limits: { jobs: 1 } }), 'jobs', 1)).toBe(
      'user ana in project genomics: 1 of 1 job in use in category gpu',
    );
    expect(quotaReason(quota({ project: null, user: 'ana', limits: { cpu: 4 } }), 'cpu', 4)).toBe(
      "ana's workspace: 4 of 4 CPUs in use on all providers",
    );
  });
});
