/**
 * Benchmark 7: the Slurm provider on a real Slurm cluster (the one
 * deploy/slurm/slurm-up.sh starts; SLURM_CONF names it). Gateway over NATS
 * and Redis as in bench/rig.ts, with the real Slurm driver behind the
 * provider runtime (as providers/slurm/main.ts builds it). Beside it, in the
 * same run against the same cluster: bare `sbatch --parsable`.
 *
 * (a) Submission throughput of 200 trivial jobs (`true`, one minute allowed):
 *     Switchyard in bulk createJobs calls of 100 and in 200 single-job calls
 *     one after another, against bare sbatch one after another and with as
 *     many at once as the runtime runs driver calls (16). From the first call
 *     to the last accepted reply. To tell the gateway's share from the
 *     provider's: the same bulk sent straight to the provider (its
 *     `jobs.create` over NATS, as the gateway sends it), bypassing GraphQL.
 * (b) Submission → RUNNING on an idle cluster, one `sleep 5` job at a time:
 *     Switchyard (createJobs → the job's status RUNNING, GraphQL polled every
 *     20 ms) against bare sbatch (sbatch → squeue shows R, polled every 20 ms).
 *
 * Only this run's jobs are ever cancelled: ours by their script in this
 * run's work directory (the driver names them `sy-<id>`), bare ones by a job
 * name of their own. Other users of the cluster (tests running at the same
 * time) are left alone, and counted, since they make the cluster not idle.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../shared/clock.js';
import type { Product } from '../shared/domain.js';
import { createJobsResultSchema } from '../shared/protocol.js';
import { silentLogger } from '../shared/logger.js';
import { createSubjects } from '../shared/subjects.js';
import type { Transport } from '../shared/transport.js';
import { createNatsTransport } from '../shared/transport/nats-transport.js';
import { createSlurmDriver, SLURM_JOB_NAME_PREFIX } from '../providers/slurm/slurm-driver.js';
import { createProviderRuntime, type ProviderRuntime } from '../providers/sdk/runtime.js';
import { fund } from '../test/support/credits.js';
import { makeCreateJob } from '../test/support/jobs.js';
import { startRig, type Rig, type RigOptions } from './rig.js';
import { sleep, summarize, waitFor, type LatencySummary } from './stats.js';

export const SLURM_PROVIDER_ID = 'bench-slurm';
/** The Slurm provider's own default (providers/slurm/main.ts SWITCHYARD_SLURM_POLL_MS). */
const POLL_MS = 1_000;
/** The runtime's default requestConcurrency: driver calls one bulk request runs at once. */
const RUNTIME_CONCURRENCY = 16;
const SLURM_COMMAND_TIMEOUT_MS = 10_000;

const CREATE = `mutation ($specs: [JobSpecificationInput!]!) { createJobs(specifications: $specs) { job { id } error { code message } } }`;
const JOB_STATE = `query ($id: ID!) { job(id: $id) { status { state } providerGeneratedId } }`;

/** Why the Slurm benchmark cannot run here, or null when SLURM_CONF names a cluster. */
export function slurmSkipReason(env: NodeJS.ProcessEnv = process.env): string | null {
  if (!env.SLURM_CONF) {
    return 'SLURM_CONF is unset: start the cluster with `bash deploy/slurm/slurm-up.sh`, then `export $(cat /tmp/switchyard-slurm/slurm.env)`';
  }
  return null;
}

export interface SlurmRig extends Rig {
  runtime: ProviderRuntime;
  slurmConf: string;
  /** The driver's work directory: every batch script of ours lies under it. */
  workDir: string;
  /** The job name of this run's bare sbatch jobs. */
  bareName: string;
  /** The product jobs are created on (the default partition's). */
  product: Product;
  /** scancel every job of this run still in the queue, and wait until none is. */
  cancelOurs(): Promise<number>;
  stop(): Promise<void>;
}

/** A Slurm command with the cluster's SLURM_CONF; resolves with stdout when it exits 0. */
function slurm(slurmConf: string, command: string, args: readonly string[], timeoutMs = SLURM_COMMAND_TIMEOUT_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { env: { ...process.env, SLURM_CONF: slurmConf }, timeout: timeoutMs, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${stderr.trim() || error.message}`));
      else resolve(stdout);
    });
  });
}

/** Jobs in the queue (not yet ended): Slurm id, name, batch script. */
async function queue(slurmConf: string): Promise<{ id: string; name: string; command: string }[]> {
  const out = await slurm(slurmConf, 'squeue', ['-h', '-t', 'PD,R,S,CG,CF', '-O', 'JobID:|,Name:|,Command:|']);
  return out
    .split('\n')
    .map((line) => line.split('|'))
    .filter(([id]) => id?.trim())
    .map(([id, name, command]) => ({ id: id.trim(), name: (name ?? '').trim(), command: (command ?? '').trim() }));
}

export async function startSlurmRig(options: Omit<RigOptions, 'withProvider'> & { slurmConf: string; runId: string }): Promise<SlurmRig> {
  const { slurmConf } = options;
  // Fails early, with Slurm's own words, when SLURM_CONF names no working cluster.
  await slurm(slurmConf, 'sinfo', ['-h', '-o', '%P %a %t']);
  const rig = await startRig({ ...options, withProvider: false });
  const workDir = mkdtempSync(join(tmpdir(), 'switchyard-bench-slurm-'));
  const bareName = `bench${options.runId}-bare`;
  let providerTransport: Transport | null = null;
  let runtime: ProviderRuntime | null = null;

  const isOurs = (job: { name: string; command: string }) =>
    job.name === bareName || (job.name.startsWith(SLURM_JOB_NAME_PREFIX) && job.command.startsWith(`${workDir}/`));
  const cancelOurs = async (): Promise<number> => {
    const ours = (await queue(slurmConf)).filter(isOurs).map((job) => job.id);
    if (ours.length > 0) await slurm(slurmConf, 'scancel', ours);
    await waitFor(async () => (await queue(slurmConf)).filter(isOurs).length === 0, `this run's ${ours.length} Slurm jobs to leave the queue`, 60_000);
    return ours.length;
  };

  const stop = async () => {
    await cancelOurs().catch((error: unknown) => console.error('bench: could not cancel the Slurm jobs of this run:', error));
    await runtime?.stop().catch((error: unknown) => console.error('bench: stopping the Slurm provider failed:', error));
    await providerTransport?.close().catch(() => undefined);
    await rig.stop();
    rmSync(workDir, { recursive: true, force: true });
  };

  try {
    providerTransport = await createNatsTransport({
      url: options.natsUrl,
      subjects: createSubjects(options.subjectPrefix),
      name: 'bench-slurm-provider',
      onError: options.onTransportError,
    });
    // As providers/slurm/main.ts builds it, with its defaults.
    runtime = createProviderRuntime({
      transport: providerTransport,
      driver: createSlurmDriver({ workDir, slurmConf, pollIntervalMs: POLL_MS, commandTimeoutMs: SLURM_COMMAND_TIMEOUT_MS }),
      id: SLURM_PROVIDER_ID,
      kind: 'SLURM',
      version: 'bench',
      clock: systemClock,
      logger: silentLogger(),
    });
    await runtime.start();
    const entry = await waitFor(() => {
      const found = rig.gateway.registry.get(SLURM_PROVIDER_ID);
      return found?.manifest && rig.gateway.registry.status(found) === 'UP' ? found : null;
    }, 'the gateway to see the Slurm provider and its manifest');
    const products = entry.manifest!.products;
    const product = products.find((p) => p.id === 'slurm-debug') ?? products[0];
    if (!product) throw new Error('the Slurm provider sells no product');
    await fund(rig.admin, 'admin', SLURM_PROVIDER_ID);
    return { ...rig, runtime, slurmConf, workDir, bareName, product, cancelOurs, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

export interface ThroughputMeasurement {
  jobs: number;
  /** Submissions refused or failed. */
  failed: number;
  seconds: number;
  jobsPerSecond: number;
}

export interface SlurmResult {
  product: string;
  pollIntervalMs: number;
  throughput: {
    /** createJobs calls of `bulkSize`, one after another. */
    switchyardBulk: ThroughputMeasurement & { bulkSize: number; callLatency: LatencySummary };
    /** createJobs of one job, one call after another. */
    switchyardSingle: ThroughputMeasurement;
    /** The provider alone: jobs.create requests of `bulkSize` over NATS, one after another (no GraphQL, no gateway store). */
    providerBulk: ThroughputMeasurement & { bulkSize: number; callLatency: LatencySummary };
    bareSequential: ThroughputMeasurement;
    /** RUNTIME_CONCURRENCY sbatch at a time, as the runtime runs driver.create. */
    bareConcurrent: ThroughputMeasurement & { concurrency: number };
    /** Jobs cancelled after each step (the rest had already ended). */
    cancelled: number[];
  };
  toRunning: {
    /** createJobs → status RUNNING through GraphQL, ms. */
    switchyard: LatencySummary;
    /** sbatch → squeue shows R, ms. */
    bare: LatencySummary;
    /** Switchyard p50 / bare p50. */
    ratioP50: number;
  };
  /** The most jobs of others seen in the queue before a step: > 0 means the cluster was not idle. */
  otherJobsSeen: number;
  seconds: number;
}

type CreateReply = { createJobs: { job: { id: string } | null; error: { code: string; message: string } | null }[] };

export async function benchSlurm(rig: SlurmRig, options: { jobs?: number; bulkSize?: number; latencyRuns?: number } = {}): Promise<SlurmResult> {
  const total = options.jobs ?? 200;
  const bulkSize = options.bulkSize ?? 100;
  const latencyRuns = options.latencyRuns ?? 10;
  const { slurmConf, product, bareName } = rig;
  const benchStarted = performance.now();
  let otherJobsSeen = 0;
  const cancelled: number[] = [];

  /** Before each step: nothing of ours left, and how many jobs of others there are. */
  const settle = async () => {
    cancelled.push(await rig.cancelOurs());
    const others = (await queue(slurmConf)).length;
    otherJobsSeen = Math.max(otherJobsSeen, others);
  };

  const spec = (name: string, command: string[]) => ({
    product: { id: product.id, category: product.category, provider: SLURM_PROVIDER_ID },
    command,
    name,
    allowDuplicateJob: true,
    timeAllocation: { minutes: 1 },
  });
  const create = async (specs: ReturnType<typeof spec>[]) => {
    const data = await rig.admin.ok<CreateReply>(CREATE, { specs });
    return data.createJobs;
  };
  const sbatch = async (command: string) => {
    const out = await slurm(slurmConf, 'sbatch', ['--parsable', '--time=1', `--job-name=${bareName}`, '--output=/dev/null', `--wrap=${command}`]);
    const id = /^(\d+)/.exec(out.trim())?.[1];
    if (!id) throw new Error(`sbatch answered "${out.trim()}", not a job id`);
    return id;
  };

  // --- (a) throughput ------------------------------------------------------
  // Warm-up, untimed: the gateway's and driver's code paths, the HTTP connection, sbatch's caches.
  await settle();
  await create(Array.from({ length: 5 }, (_, i) => spec(`warmup-${i}`, ['true'])));
  for (let i = 0; i < 5; i++) await sbatch('true');

  const timeBare = async (concurrency: number): Promise<ThroughputMeasurement> => {
    await settle();
    let next = 0;
    let failed = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total) {
          next += 1;
          await sbatch('true').catch(() => (failed += 1));
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    return { jobs: total, failed, seconds, jobsPerSecond: (total - failed) / seconds };
  };

  const timeSwitchyard = async (perCall: number): Promise<ThroughputMeasurement & { callLatency: LatencySummary }> => {
    await settle();
    let failed = 0;
    const callTimes: number[] = [];
    const started = performance.now();
    for (let from = 0; from < total; from += perCall) {
      const callStarted = performance.now();
      const results = await create(Array.from({ length: Math.min(perCall, total - from) }, (_, k) => spec(`tp-${perCall}-${from + k}`, ['true'])));
      callTimes.push(performance.now() - callStarted);
      failed += results.filter((result) => result.error !== null || result.job === null).length;
    }
    const seconds = (performance.now() - started) / 1000;
    return { jobs: total, failed, seconds, jobsPerSecond: (total - failed) / seconds, callLatency: summarize(callTimes) };
  };

  const timeProvider = async (perCall: number): Promise<ThroughputMeasurement & { callLatency: LatencySummary }> => {
    await settle();
    const client = rig.gateway.registry.require(SLURM_PROVIDER_ID).client;
    let failed = 0;
    const callTimes: number[] = [];
    const started = performance.now();
    for (let from = 0; from < total; from += perCall) {
      const jobs = Array.from({ length: Math.min(perCall, total - from) }, (_, k) =>
        makeCreateJob(product, SLURM_PROVIDER_ID, { command: ['true'], name: `direct-${from + k}`, timeAllocationMs: 60_000 }),
      );
      const callStarted = performance.now();
      const reply = await client.call('jobs.create', { jobs }, createJobsResultSchema, { timeoutMs: 60_000 });
      callTimes.push(performance.now() - callStarted);
      failed += reply.ok ? reply.result.results.filter((result) => !result.ok).length : jobs.length;
    }
    const seconds = (performance.now() - started) / 1000;
    return { jobs: total, failed, seconds, jobsPerSecond: (total - failed) / seconds, callLatency: summarize(callTimes) };
  };

  // Interleaved, so a cluster that slows down over the run does not favour either side.
  const bareSequential = await timeBare(1);
  const bulk = await timeSwitchyard(bulkSize);
  const providerBulk = await timeProvider(bulkSize);
  const bareConcurrent = await timeBare(RUNTIME_CONCURRENCY);
  const single = await timeSwitchyard(1);

  // --- (b) submission → RUNNING ------------------------------------------
  const untilSwitchyardRunning = async (name: string) => {
    const started = performance.now();
    const [result] = await create([spec(name, ['sleep', '5'])]);
    if (!result.job) throw new Error(`createJobs refused the job: ${JSON.stringify(result.error)}`);
    const id = result.job.id;
    for (;;) {
      const data = await rig.admin.ok<{ job: { status: { state: string } } | null }>(JOB_STATE, { id });
      const state = data.job?.status.state;
      if (state === 'RUNNING') return performance.now() - started;
      if (state && ['SUCCESS', 'FAILURE', 'EXPIRED'].includes(state)) throw new Error(`job ${id} ended ${state} before it was seen RUNNING`);
      if (performance.now() - started > 30_000) throw new Error(`job ${id} was not RUNNING within 30 s (last: ${state})`);
      await sleep(20);
    }
  };
  const untilBareRunning = async () => {
    const started = performance.now();
    const id = await sbatch('sleep 5');
    for (;;) {
      const state = (await slurm(slurmConf, 'squeue', ['-h', '-j', id, '-o', '%t'])).trim();
      if (state === 'R') return performance.now() - started;
      if (state !== 'PD' && state !== 'CF' && state !== '') throw new Error(`bare job ${id} is ${state}, not R`);
      if (performance.now() - started > 30_000) throw new Error(`bare job ${id} did not run within 30 s (last: ${state})`);
      await sleep(20);
    }
  };
  const switchyardSamples: number[] = [];
  const bareSamples: number[] = [];
  // One untimed round of each, then alternating.
  for (let run = -1; run < latencyRuns; run++) {
    await settle();
    const s = await untilSwitchyardRunning(`latency-${run}`);
    await settle();
    const b = await untilBareRunning();
    if (run >= 0) {
      switchyardSamples.push(s);
      bareSamples.push(b);
    }
  }
  await settle();

  const switchyard = summarize(switchyardSamples);
  const bare = summarize(bareSamples);
  return {
    product: `${product.id} (${product.category})`,
    pollIntervalMs: POLL_MS,
    throughput: {
      switchyardBulk: { ...bulk, bulkSize },
      switchyardSingle: { jobs: single.jobs, failed: single.failed, seconds: single.seconds, jobsPerSecond: single.jobsPerSecond },
      providerBulk: { ...providerBulk, bulkSize },
      bareSequential,
      bareConcurrent: { ...bareConcurrent, concurrency: RUNTIME_CONCURRENCY },
      cancelled,
    },
    toRunning: { switchyard, bare, ratioP50: switchyard.p50 / bare.p50 },
    otherJobsSeen,
    seconds: (performance.now() - benchStarted) / 1000,
  };
}
