/**
 * Benchmark 1: job creation through the gateway (GraphQL over HTTP), NATS
 * and Redis to a provider that accepts at once. Bulk throughput and the
 * latency of single-job calls.
 */
import type { TestClient } from '../test/support/graphql-client.js';
import { INSTANT_PRODUCT } from './instant-driver.js';
import { INSTANT_PROVIDER_ID, waitForQueueDrained, type Rig } from './rig.js';
import { measure, summarize, type LatencySummary } from './stats.js';

const CREATE = `mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { job { id status { state } } error { code message } } }`;

export interface JobCreationOptions {
  /** Specifications per bulk call. @default 100 */
  bulkSize?: number;
  /** Timed bulk calls, after `bulkWarmup` untimed ones. @default 30 */
  bulkCalls?: number;
  /** @default 3 */
  bulkWarmup?: number;
  /** Timed single-job calls, after `singleWarmup` untimed ones. @default 300 */
  singleCalls?: number;
  /** @default 20 */
  singleWarmup?: number;
}

export interface JobCreationResult {
  bulk: {
    calls: number;
    jobsPerCall: number;
    jobs: number;
    failed: number;
    seconds: number;
    jobsPerSecond: number;
    /** Per call, in ms. */
    callLatency: LatencySummary;
  };
  /**
   * After the last bulk call answered: how long until every RUNNING event the
   * provider emitted was applied to the store, and the rate that implies for
   * the whole bulk phase.
   */
  events: { drainAfterLastCallMs: number; appliedPerSecond: number };
  single: LatencySummary & { failed: number };
}

function specification(name: string) {
  return {
    product: { id: INSTANT_PRODUCT.id, category: INSTANT_PRODUCT.category, provider: INSTANT_PROVIDER_ID },
    command: ['true'],
    name,
    allowDuplicateJob: true,
  };
}

/** Creates the jobs; resolves with how many came back with an error instead of a job. */
async function createJobs(client: TestClient, names: string[]): Promise<number> {
  const data = await client.ok<{ createJobs: { job: { id: string } | null; error: { code: string; message: string } | null }[] }>(CREATE, {
    specs: names.map(specification),
  });
  const failed = data.createJobs.filter((result) => result.error !== null || result.job === null);
  if (failed.length === names.length) throw new Error(`createJobs failed for every job: ${JSON.stringify(failed[0]?.error)}`);
  return failed.length;
}

export async function benchJobCreation(rig: Rig, options: JobCreationOptions = {}): Promise<JobCreationResult> {
  const bulkSize = options.bulkSize ?? 100;
  const bulkCalls = options.bulkCalls ?? 30;
  const bulkWarmup = options.bulkWarmup ?? 3;
  const singleCalls = options.singleCalls ?? 300;
  const singleWarmup = options.singleWarmup ?? 20;
  const client = rig.admin;
  const names = (call: number) => Array.from({ length: bulkSize }, (_, k) => `bulk-${call}-${k}`);

  // Warm-up: JIT, HTTP keep-alive, Lua script cache; then let its events settle.
  for (let call = 0; call < bulkWarmup; call++) await createJobs(client, names(-1 - call));
  await waitForQueueDrained(rig.store, INSTANT_PROVIDER_ID);

  let bulkFailed = 0;
  const callTimes: number[] = [];
  const started = performance.now();
  for (let call = 0; call < bulkCalls; call++) {
    const callStarted = performance.now();
    bulkFailed += await createJobs(client, names(call));
    callTimes.push(performance.now() - callStarted);
  }
  const answered = performance.now();
  await waitForQueueDrained(rig.store, INSTANT_PROVIDER_ID);
  const drained = performance.now();
  const seconds = (answered - started) / 1000;
  const jobs = bulkCalls * bulkSize;

  let singleFailed = 0;
  const single = await measure(
    singleCalls,
    async (i) => {
      singleFailed += await createJobs(client, [`single-${i}`]);
    },
    singleWarmup,
  );
  await waitForQueueDrained(rig.store, INSTANT_PROVIDER_ID);

  return {
    bulk: {
      calls: bulkCalls,
      jobsPerCall: bulkSize,
      jobs,
      failed: bulkFailed,
      seconds,
      jobsPerSecond: (jobs - bulkFailed) / seconds,
      callLatency: summarize(callTimes),
    },
    events: { drainAfterLastCallMs: drained - answered, appliedPerSecond: jobs / ((drained - started) / 1000) },
    single: { ...single, failed: singleFailed },
  };
}
