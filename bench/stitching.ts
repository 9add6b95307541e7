/**
 * Benchmark 5: a query that reads a stitched provider field (the local
 * provider's `Job.local { host pids }`) on 50 running jobs, against the same
 * query without it. Gateway over NATS and Redis as in bench/rig.ts, with the
 * real local provider running `sleep 120` for each job. Also counts the
 * `graphql` calls the gateway makes to the provider per stitched query: one
 * when the delegation is batched, fifty when it goes job by job.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { Gateway } from '../gateway/gateway.js';
import { createLocalDriver } from '../providers/local/local-driver.js';
import { createProviderRuntime, type ProviderRuntime } from '../providers/sdk/runtime.js';
import { systemClock } from '../shared/clock.js';
import { isFinalState } from '../shared/job-state-machine.js';
import { silentLogger } from '../shared/logger.js';
import { createSubjects } from '../shared/subjects.js';
import type { Transport } from '../shared/transport.js';
import { createNatsTransport } from '../shared/transport/nats-transport.js';
import { fund } from '../test/support/credits.js';
import { startRig, type Rig, type RigOptions } from './rig.js';
import { sleep, summarize, waitFor, type LatencySummary } from './stats.js';

export const LOCAL_PROVIDER_ID = 'bench-local';
const LOCAL_PRODUCT_ID = 'local-small';

const CREATE = `mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { job { id } error { code message } } }`;
const TERMINATE = `mutation ($ids: [ID!]!) { terminateJobs(ids: $ids) { ok error { code message } } }`;
export const PLAIN_QUERY = `{ jobs(first: 50) { edges { node { id status { state } } } } }`;
export const STITCHED_QUERY = `{ jobs(first: 50) { edges { node { id status { state } local { host pids } } } } }`;

/** A rig without the instant provider, with the real local provider instead. */
export interface LocalRig extends Rig {
  runtime: ProviderRuntime;
  /** Jobs the bench started: stop() terminates whichever still run. */
  readonly jobIds: string[];
  /** Their processes as the stitched field reported them: the last resort if terminating fails. */
  readonly pids: Set<number>;
}

export async function startLocalRig(options: Omit<RigOptions, 'withProvider'>): Promise<LocalRig> {
  const rig = await startRig({ ...options, withProvider: false });
  const stateDir = mkdtempSync(join(tmpdir(), 'switchyard-bench-local-'));
  const jobIds: string[] = [];
  const pids = new Set<number>();
  let providerTransport: Transport | null = null;
  let runtime: ProviderRuntime | null = null;

  const stop = async () => {
    if (jobIds.length > 0)
      await terminateAll(rig, jobIds, pids).catch((error: unknown) => console.error('bench: could not terminate the local jobs:', error));
    await runtime?.stop().catch((error: unknown) => console.error('bench: stopping the local provider failed:', error));
    await providerTransport?.close().catch(() => undefined);
    await rig.stop();
    rmSync(stateDir, { recursive: true, force: true });
  };

  try {
    providerTransport = await createNatsTransport({
      url: options.natsUrl,
      subjects: createSubjects(options.subjectPrefix),
      name: 'bench-local-provider',
      onError: options.onTransportError,
    });
    runtime = createProviderRuntime({
      transport: providerTransport,
      driver: createLocalDriver({ stateDir, terminateGraceMs: 2_000 }),
      id: LOCAL_PROVIDER_ID,
      kind: 'LOCAL',
      version: 'bench',
      clock: systemClock,
      logger: silentLogger(),
    });
    await runtime.start();
    await waitFor(() => {
      const entry = rig.gateway.registry.get(LOCAL_PROVIDER_ID);
      return entry?.manifest && rig.gateway.registry.status(entry) === 'UP';
    }, 'the gateway to see the local provider and its manifest');
    return { ...rig, runtime, jobIds, pids, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * terminateJobs for every job not yet final, then waits until the provider
 * reported each one's end; if that fails, SIGKILLs the process groups left.
 */
async function terminateAll(rig: Rig, ids: string[], pids: Set<number>, timeoutMs = 20_000): Promise<number> {
  const started = performance.now();
  const states = await Promise.all(ids.map(async (id) => (await rig.store.getJob(id))?.state));
  const live = ids.filter((_, i) => states[i] !== undefined && !isFinalState(states[i]!));
  try {
    if (live.length > 0) {
      const data = await rig.admin.ok<{ terminateJobs: { ok: boolean; error: { code: string; message: string } | null }[] }>(TERMINATE, {
        ids: live,
      });
      const refused = data.terminateJobs.filter((result) => !result.ok);
      if (refused.length > 0) throw new Error(`terminateJobs refused ${refused.length} of ${live.length} jobs: ${JSON.stringify(refused[0]!.error)}`);
      await waitFor(
        async () => {
          const now = await Promise.all(live.map((id) => rig.store.getJob(id)));
          return now.every((job) => job && isFinalState(job.state));
        },
        `the ${live.length} terminated local jobs to end`,
        timeoutMs,
      );
    }
    ids.splice(0);
    pids.clear();
    return performance.now() - started;
  } catch (error) {
    // Our own children in their own process groups: do not leave them running.
    for (const pid of pids) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    throw error;
  }
}

/** How many `graphql` calls the gateway has made to providers, whatever their outcome, and their total duration in seconds. */
async function graphqlCalls(gateway: Gateway): Promise<{ count: number; seconds: number }> {
  const metric = await gateway.metrics.natsRequestDuration.get();
  const total = (suffix: string) =>
    metric.values.filter((v) => v.metricName?.endsWith(suffix) && v.labels.verb === 'graphql').reduce((sum, v) => sum + v.value, 0);
  return { count: total('_count'), seconds: total('_sum') };
}

interface JobsPage {
  jobs: { edges: { node: { id: string; status: { state: string }; local?: { host: string; pids: number[] } | null } }[] };
}

export interface StitchingResult {
  jobs: number;
  /** Time from createJobs to all 50 RUNNING and the LOCAL subschema stitched, ms. */
  setupMs: number;
  plain: LatencySummary;
  stitched: LatencySummary;
  /** stitched p50 / plain p50. */
  ratioP50: number;
  /** `graphql` calls to the provider per timed query. */
  graphqlCalls: {
    /** meanMs: the calls' mean duration as the gateway timed them (natsRequestDuration), NATS round trip and provider included. */
    stitched: { total: number; perQuery: number; min: number; max: number; meanMs: number };
    plain: { total: number; perQuery: number };
  };
  /** Timed queries that answered with errors or with fewer than 50 jobs (or local details). */
  badAnswers: { plain: number; stitched: number };
  /** terminateJobs until every job ended, ms. */
  terminateMs: number;
}

export async function benchStitching(rig: LocalRig, options: { jobs?: number; iterations?: number; warmup?: number } = {}): Promise<StitchingResult> {
  const count = options.jobs ?? 50;
  const iterations = options.iterations ?? 200;
  const warmup = options.warmup ?? 20;
  const started = performance.now();
  await fund(rig.admin, 'admin', LOCAL_PROVIDER_ID);

  const created = await rig.admin.ok<{ createJobs: { job: { id: string } | null; error: { code: string; message: string } | null }[] }>(CREATE, {
    specs: Array.from({ length: count }, (_, i) => ({
      product: { id: LOCAL_PRODUCT_ID, provider: LOCAL_PROVIDER_ID },
      command: ['sleep', '120'],
      name: `stitch-${i}`,
      allowDuplicateJob: true,
    })),
  });
  for (const result of created.createJobs) if (result.job) rig.jobIds.push(result.job.id);
  const failed = created.createJobs.find((result) => !result.job);
  if (failed) throw new Error(`createJobs on the local provider failed: ${JSON.stringify(failed.error)}`);
  const ids = [...rig.jobIds];
  // On any failure below, rig.stop() terminates whatever still runs.
  await waitFor(
    async () => (await Promise.all(ids.map((id) => rig.store.getJob(id)))).every((job) => job?.state === 'RUNNING'),
    `all ${count} local jobs to be RUNNING`,
    60_000,
  );
  await waitFor(() => rig.gateway.schemas.stitchedKinds().includes('LOCAL'), 'the LOCAL subschema to be stitched in');
  // Every job's local details answer before anything is timed.
  await waitFor(async () => {
    const res = await rig.admin.gql<JobsPage>(STITCHED_QUERY);
    const edges = res.data?.jobs.edges ?? [];
    if (res.errors?.length || edges.length !== count || edges.some((edge) => !edge.node.local?.pids.length)) return false;
    for (const edge of edges) for (const pid of edge.node.local!.pids) rig.pids.add(pid);
    return true;
  }, `the stitched local details of all ${count} jobs`);
  const setupMs = performance.now() - started;

  const run = async (query: string, stitched: boolean) => {
    const before = await graphqlCalls(rig.gateway);
    const callStarted = performance.now();
    const res = await rig.admin.gql<JobsPage>(query);
    const elapsed = performance.now() - callStarted;
    const after = await graphqlCalls(rig.gateway);
    const edges = res.data?.jobs.edges ?? [];
    const bad = !!res.errors?.length || edges.length !== count || (stitched && edges.some((edge) => !edge.node.local?.pids.length));
    return { elapsed, calls: after.count - before.count, callSeconds: after.seconds - before.seconds, bad };
  };

  const plainSamples: number[] = [];
  const stitchedSamples: number[] = [];
  const stitchedCalls: number[] = [];
  let plainCalls = 0;
  let stitchedCallSeconds = 0;
  const badAnswers = { plain: 0, stitched: 0 };
  for (let round = -warmup; round < iterations; round++) {
    // Interleaved, the order alternating, so drift and warm caches favour neither.
    const order = round % 2 === 0 ? [false, true] : [true, false];
    for (const stitched of order) {
      const outcome = await run(stitched ? STITCHED_QUERY : PLAIN_QUERY, stitched);
      if (round < 0) continue;
      if (stitched) {
        stitchedSamples.push(outcome.elapsed);
        stitchedCalls.push(outcome.calls);
        stitchedCallSeconds += outcome.callSeconds;
        if (outcome.bad) badAnswers.stitched += 1;
      } else {
        plainSamples.push(outcome.elapsed);
        plainCalls += outcome.calls;
        if (outcome.bad) badAnswers.plain += 1;
      }
    }
  }
  const plain = summarize(plainSamples);
  const stitched = summarize(stitchedSamples);
  const total = stitchedCalls.reduce((sum, n) => sum + n, 0);

  const terminateMs = await terminateAll(rig, rig.jobIds, rig.pids);
  // The provider's SUCCESS events are in; give its output handles a moment to close before it stops.
  await sleep(50);
  return {
    jobs: count,
    setupMs,
    plain,
    stitched,
    ratioP50: stitched.p50 / plain.p50,
    graphqlCalls: {
      stitched: {
        total,
        perQuery: total / stitchedCalls.length,
        min: Math.min(...stitchedCalls),
        max: Math.max(...stitchedCalls),
        meanMs: total > 0 ? (stitchedCallSeconds * 1000) / total : Number.NaN,
      },
      plain: { total: plainCalls, perQuery: plainCalls / plainSamples.length },
    },
    badAnswers,
    terminateMs,
  };
}
