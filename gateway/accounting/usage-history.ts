/**
 * A workspace's usage over time: per provider, buckets of the CPU-, GPU- and
 * memory-hours its jobs ran (from each job's own start and stop records, as
 * charging reads them: usage.ts), for a bounded range. A job counts while it
 * runs (RUNNING or CANCELING) and not after it ends — a reclaimed or
 * terminated job stops counting at its final state.
 */
import type { Job, Product } from '../../shared/domain.js';
import { InvalidInputError } from '../../shared/errors.js';
import { amountsOf } from '../routing/quota-rules.js';
import { runningIntervals } from './usage.js';

export type BucketSize = 'HOUR' | 'DAY';

export const BUCKET_MS: Readonly<Record<BucketSize, number>> = { HOUR: 3_600_000, DAY: 86_400_000 };
/** At most this many buckets in one answer (HOUR: about six weeks, DAY: about 2.7 years). */
export const MAX_BUCKETS = 1_000;
/** At most this many of the workspace's jobs are read for one answer (newest first); past it the answer says it is partial. */
export const MAX_JOBS_READ = 20_000;

export interface UsageRange {
  from: number;
  to: number;
  bucket: BucketSize;
}

export interface UsageBucket {
  /** Epoch ms; buckets are [start, start + size), from `from` on. */
  start: number;
  cpuHours: number;
  gpuHours: number;
  memoryGigHours: number;
  /** Jobs that ran at some time in the bucket. */
  jobs: number;
}

export interface ProviderHistory {
  provider: string;
  buckets: UsageBucket[];
}

/** INVALID_INPUT unless the range is whole, forward and within {@link MAX_BUCKETS}; the number of buckets. */
export function checkRange(range: UsageRange): number {
  const { from, to, bucket } = range;
  const size = BUCKET_MS[bucket];
  if (size === undefined) throw new InvalidInputError(`bucket must be HOUR or DAY`);
  if (!Number.isFinite(from) || !Number.isFinite(to) || from < 0) throw new InvalidInputError('from and to must be times');
  if (to <= from) throw new InvalidInputError('to must be after from');
  const count = Math.ceil((to - from) / size);
  if (count > MAX_BUCKETS)
    throw new InvalidInputError(
      `at most ${MAX_BUCKETS} buckets (${count} asked: a ${bucket.toLowerCase()} bucket over the range); narrow it or use DAY`,
    );
  return count;
}

const HOUR_MS = 3_600_000;

/**
 * The buckets of each provider the jobs ran on (and of each of `providers`, empty), sorted by
 * provider. `productOf`: the job's product, for what it holds (unknown: counted as a job only).
 */
export function usageHistory(
  jobs: readonly Job[],
  range: UsageRange,
  now: number,
  productOf: (job: Job) => Pick<Product, 'cpu' | 'memoryInGigs' | 'gpu'> | undefined,
  providers: readonly string[] = [],
): ProviderHistory[] {
  const count = checkRange(range);
  const size = BUCKET_MS[range.bucket];
  const fresh = (): UsageBucket[] =>
    Array.from({ length: count }, (_, k) => ({ start: range.from + k * size, cpuHours: 0, gpuHours: 0, memoryGigHours: 0, jobs: 0 }));
  const byProvider = new Map<string, UsageBucket[]>(providers.map((provider) => [provider, fresh()]));
  const end = Math.min(range.to, now);
  for (const job of jobs) {
    const spans = runningIntervals(job, end).filter(([from, to]) => to > range.from && from < end);
    if (spans.length === 0) continue;
    let buckets = byProvider.get(job.providerId);
    if (!buckets) byProvider.set(job.providerId, (buckets = fresh()));
    const product = productOf(job);
    const amounts = product ? amountsOf(product, job.specification.replicas) : null;
    const counted = new Set<number>();
    for (const [spanFrom, spanTo] of spans) {
      const from = Math.max(spanFrom, range.from);
      const to = Math.min(spanTo, end);
      for (let k = Math.floor((from - range.from) / size); k < count && range.from + k * size < to; k++) {
        const bucket = buckets[k]!;
        const hours = (Math.min(to, bucket.start + size) - Math.max(from, bucket.start)) / HOUR_MS;
        if (!counted.has(k)) {
          counted.add(k);
          bucket.jobs += 1;
        }
        if (!amounts) continue;
        bucket.cpuHours += amounts.cpu * hours;
        bucket.gpuHours += amounts.gpu * hours;
        bucket.memoryGigHours += amounts.memoryInGigs * hours;
      }
    }
  }
  const round = (value: number) => Math.round(value * 1e6) / 1e6;
  return [...byProvider]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([provider, buckets]) => ({
      provider,
      buckets: buckets.map((b) => ({ ...b, cpuHours: round(b.cpuHours), gpuHours: round(b.gpuHours), memoryGigHours: round(b.memoryGigHours) })),
    }));
}
