/**
 * Waiting-room placement with fair share (`BENCH_ONLY=fair-share npm run bench`):
 * 10,000 jobs waiting at the gateway from 100 workspaces, each workspace with
 * a GPU quota. One round is what a sweep decides without I/O: the fair-share
 * order (gateway/jobs/waiting-room.ts queueOrder, with the product lookups it
 * makes) and each job's quota check against the sweep's snapshot (placement.ts
 * withinQuota, growing the snapshot with each job it lets through). Beside it,
 * in the same run: the order the waiting room had before fair share, the
 * records sorted by job id.
 */
import { v7 as uuidv7 } from 'uuid';

import { queueOrder } from '../gateway/jobs/waiting-room.js';
import { withinQuota } from '../gateway/routing/placement.js';
import { quotaSubjectOf, takeIn, type QuotaSnapshot } from '../gateway/routing/quota-gate.js';
import type { Candidate } from '../gateway/routing/router.js';
import type { WaitingRecord } from '../gateway/store/store.js';
import { computeSupport, type Job, type Product } from '../shared/domain.js';
import { summarize, type LatencySummary } from './stats.js';
import type { Row } from './table.js';

export interface FairShareResult {
  jobs: number;
  workspaces: number;
  /** One round: order and quota-check every waiting job (ms). */
  roundMs: LatencySummary;
  /** The baseline: sort the records by job id (ms). */
  fifoMs: LatencySummary;
  /** Jobs the quota checks let through in one round. */
  admitted: number;
}

const PRODUCT: Product = {
  id: 'gpu-4',
  category: 'gpu',
  name: 'gpu-4',
  description: '',
  cpu: 16,
  memoryInGigs: 128,
  gpu: 4,
  pricePerUnit: 1,
  unitOfPrice: 'CREDITS_PER_HOUR',
  freeToUse: false,
  priority: 0,
  support: computeSupport({ backend: 'NATIVE' }),
};

export function benchFairShare(options: { jobs?: number; workspaces?: number; rounds?: number } = {}): FairShareResult {
  const count = options.jobs ?? 10_000;
  const workspaces = options.workspaces ?? 100;
  const rounds = options.rounds ?? 50;
  const start = 1_700_000_000_000;
  const waiting = Array.from({ length: count }, (_, k) => {
    const job = {
      id: uuidv7({ msecs: start + k }),
      owner: { createdBy: `user${k % 7}`, project: `project${k % workspaces}` },
      providerId: 'hpc',
      specification: { product: { id: 'gpu-4', category: 'gpu', provider: 'hpc' }, replicas: 1, priority: (k % 3) - 1, timeAllocationMs: 3_600_000 },
    } as unknown as Job;
    const record: WaitingRecord = { jobId: job.id, deadline: start + 3_600_000, input: {}, claim: `c${k}` };
    return { record, job };
  });
  // Shuffled as a hash field order would be.
  const shuffled = [...waiting].sort((a, b) => (a.record.claim! < b.record.claim! ? -1 : 1));
  const registry = { product: () => PRODUCT };
  const candidate: Candidate = { providerId: 'hpc', product: PRODUCT, pricePerMinute: 1, pending: 0, capacity: 10 };
  const freshSnapshot = (): QuotaSnapshot =>
    new Map(
      Array.from({ length: workspaces }, (_, w) => [
        `project:project${w}`,
        {
          quotas: [{ project: `project${w}`, user: null, provider: 'hpc', category: null, limits: { gpu: 16 }, setBy: 'admin', setAt: 0 }],
          counters: {},
          held: new Set<string>(),
          fairShare: w * 1_000,
        },
      ]),
    );

  let admitted = 0;
  const round = () => {
    const snapshot = freshSnapshot();
    admitted = 0;
    for (const { job } of queueOrder(shuffled, snapshot, registry)) {
      const subject = quotaSubjectOf(job!);
      const placed = withinQuota({ candidates: [candidate], waiting: '', failure: '' }, subject, snapshot, 60);
      if (placed.candidates.length > 0) {
        takeIn(snapshot, subject, 'hpc', PRODUCT);
        admitted++;
      }
    }
  };
  const fifo = () => [...shuffled].sort((a, b) => (a.record.jobId < b.record.jobId ? -1 : 1));
  for (let k = 0; k < 5; k++) {
    round();
    fifo();
  }
  const roundSamples: number[] = [];
  const fifoSamples: number[] = [];
  for (let k = 0; k < rounds; k++) {
    let t = performance.now();
    round();
    roundSamples.push(performance.now() - t);
    t = performance.now();
    fifo();
    fifoSamples.push(performance.now() - t);
  }
  // Sanity: 16 GPUs per workspace let 4 gpu-4 jobs of each through.
  if (admitted !== workspaces * 4) throw new Error(`fair-share bench: ${admitted} admitted, expected ${workspaces * 4}`);
  return { jobs: count, workspaces, roundMs: summarize(roundSamples), fifoMs: summarize(fifoSamples), admitted };
}

/** The table's rows: decisions per second at the median round, and the round beside the id sort. */
export function fairShareRows(result: FairShareResult): Row[] {
  const benchmark = `waiting-room placement, fair share (${result.jobs.toLocaleString('en')} jobs, ${result.workspaces} workspaces)`;
  return [
    { benchmark, metric: 'decisions per second (median round)', value: (result.jobs / result.roundMs.p50) * 1000, unit: '/s' },
    {
      benchmark,
      metric: `one round: order + quota checks, p50 (${result.roundMs.count})`,
      value: result.roundMs.p50,
      unit: 'ms',
      baseline: `sort by id ${result.fifoMs.p50.toFixed(2)} ms`,
      ratio: result.roundMs.p50 / result.fifoMs.p50,
    },
    { benchmark, metric: 'one round, p99', value: result.roundMs.p99, unit: 'ms' },
  ];
}
