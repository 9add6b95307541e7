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
 * (b) Submission → RUNNING on an idle cluster, one `sleep 5` job at a time, each after a random
 *     pause so that neither side is locked to slurmctld's own scheduling cadence:
 *     Switchyard (createJobs → the job's status RUNNING, GraphQL polled every
 *     20 ms) against bare sbatch (sbatch → squeue shows R, polled every 20 ms).
 *
 * (c) Slurm's load: every squeue, sacct, scontrol, sinfo and scancel the
 *     driver runs goes through a counting wrapper on its PATH (one `sh` exec
 *     more per call; sbatch is not wrapped), reported per job for each step.
 *
 * Run alone with `SLURM_CONF=… npx tsx bench/slurm.ts [--jobs=200] [--runs=10]`
 * (its own nats-server and redis-server, as bench/run.ts starts them).
 *
 * Only this run's jobs are ever cancelled: ours by their script in this
 * run's work directory (the driver names them `sy-<id>`), bare ones by a job
 * name of their own. Other users of the cluster (tests running at the same
 * time) are left alone, and counted, since they make the cluster not idle.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { createProviderRuntime, type ProviderRuntime } from '../providers/sdk/runtime.js';
import { createSlurmDriver, SLURM_JOB_NAME_PREFIX } from '../providers/slurm/slurm-driver.js';
import { systemClock } from '../shared/clock.js';
import type { Product } from '../shared/domain.js';
import { silentLogger } from '../shared/logger.js';
import { createSubjects } from '../shared/subjects.js';
import type { Transport } from '../shared/transport.js';
import { createNatsTransport } from '../shared/transport/nats-transport.js';
import { fund } from '../test/support/credits.js';
import { makeCreateJob } from '../test/support/jobs.js';
import { startRig, type Rig, type RigOptions } from './rig.js';
import { startServices } from './services.js';
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
  /** Slurm commands the driver has run so far, by command (sbatch not counted). */
  slurmCalls(): SlurmCalls;
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

/** The Slurm commands the driver runs that the bench counts: everything but sbatch. */
const COUNTED_COMMANDS = ['squeue', 'sacct', 'scontrol', 'sinfo', 'scancel'] as const;
/**
 * Calls by kind: `squeue`, the driver's listings of its jobs; `squeueOneJob`, its `squeue --jobs=<id>`
 * (which slurmctld answers without packing the other jobs); `squeueUtilization`, the queue counts of
 * the gateway's utilization polls (time-based, not per job), as `sinfo` and `scontrol` mostly are.
 */
const COUNTED = [...COUNTED_COMMANDS, 'squeueOneJob', 'squeueUtilization'] as const;
export type SlurmCalls = Record<(typeof COUNTED)[number], number>;

/** A folder of wrappers that log each call, then exec the real command; put first on the driver's PATH. */
function countingWrappers(): { dir: string; calls(): SlurmCalls } {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-bench-slurm-calls-'));
  const log = join(dir, 'calls.log');
  writeFileSync(log, '');
  for (const command of COUNTED_COMMANDS) {
    const real = execFileSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim();
    // squeue is told apart by its arguments: one job, or the utilization's queue counts.
    const kind =
      command === 'squeue'
        ? `case "$*" in *--jobs=*) k=squeueOneJob;; *'State:|,Partition:|'*) k=squeueUtilization;; *) k=squeue;; esac\n`
        : `k=${command}\n`;
    // One short line appended per call: O_APPEND writes of it do not interleave.
    writeFileSync(join(dir, command), `#!/bin/sh\n${kind}echo $k >> '${log}'\nexec '${real}' "$@"\n`);
    chmodSync(join(dir, command), 0o755);
  }
  return {
    dir,
    calls() {
      const counts = Object.fromEntries(COUNTED.map((c) => [c, 0])) as SlurmCalls;
      for (const line of readFileSync(log, 'utf8').split('\n')) if (line in counts) counts[line as keyof SlurmCalls] += 1;
      return counts;
    },
  };
}

/** Jobs in the queue (not yet ended): Slurm id, name, batch script. */
async function queue(slurmConf: string): Promise<{ id: string; name: string; command: string }[]> {
  const out = await slurm(slurmConf, 'squeue', ['-h', '-t', 'PD,R,S,CG,CF', '-O', 'JobID:|,Name:|,Command:|']);
  return out
    .split('\n')
    .map((line) => line.split('|'))
    .flatMap(([id, name, command]) => (id?.trim() ? [{ id: id.trim(), name: (name ?? '').trim(), command: (command ?? '').trim() }] : []));
}

export async function startSlurmRig(options: Omit<RigOptions, 'withProvider'> & { slurmConf: string; runId: string }): Promise<SlurmRig> {
  const { slurmConf } = options;
  // Fails early, with Slurm's own words, when SLURM_CONF names no working cluster.
  await slurm(slurmConf, 'sinfo', ['-h', '-o', '%P %a %t']);
  const rig = await startRig({ ...options, withProvider: false });
  const workDir = mkdtempSync(join(tmpdir(), 'switchyard-bench-slurm-'));
  const counting = countingWrappers();
  const bareName = `bench${options.runId}-bare`;
  let providerTransport: Transport | null = null;
  let runtime: ProviderRuntime | null = null;

  const isOurs = (job: { name: string; command: string }) =>
    job.name === bareName || (job.name.startsWith(SLURM_JOB_NAME_PREFIX) && job.command.startsWith(`${workDir}/`));
  const cancelOurs = async (): Promise<number> => {
    const ours = (await queue(slurmConf)).filter(isOurs).map((job) => job.id);
    if (ours.length > 0) await slurm(slurmConf, 'scancel', ours);
    await waitFor(
      async () => (await queue(slurmConf)).filter(isOurs).length === 0,
      `this run's ${ours.length} Slurm jobs to leave the queue`,
      60_000,
    );
    return ours.length;
  };

  const stop = async () => {
    await cancelOurs().catch((error: unknown) => console.error('bench: could not cancel the Slurm jobs of this run:', error));
    await runtime?.stop().catch((error: unknown) => console.error('bench: stopping the Slurm provider failed:', error));
    await providerTransport?.close().catch(() => undefined);
    await rig.stop();
    rmSync(workDir, { recursive: true, force: true });
    rmSync(counting.dir, { recursive: true, force: true });
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
      driver: createSlurmDriver({
        workDir,
        slurmConf,
        pollIntervalMs: POLL_MS,
        commandTimeoutMs: SLURM_COMMAND_TIMEOUT_MS,
        env: { ...process.env, PATH: `${counting.dir}:${process.env.PATH ?? ''}` },
      }),
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
    return { ...rig, runtime, slurmConf, workDir, bareName, product, cancelOurs, slurmCalls: counting.calls, stop };
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
    /**
     * The same from a shell (`xargs -P 16 sbatch`, one spawn from here): what the cluster takes
     * without this process's fork() in the way (a fork of a few hundred MB costs milliseconds of
     * its event loop, and bounds the other bare figures here).
     */
    bareShell: ThroughputMeasurement & { concurrency: number };
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
  /**
   * The driver's Slurm commands per job of each step, from the step's start until its jobs
   * have left the queue (the driver watching them end included); sbatch (one per job) not counted.
   */
  slurmCallsPerJob: {
    switchyardBulk: SlurmCalls;
    providerBulk: SlurmCalls;
    switchyardSingle: SlurmCalls;
    toRunning: SlurmCalls;
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
  /** Calls per job between two readings of the counters. */
  const perJob = (from: SlurmCalls, to: SlurmCalls, jobs: number) =>
    Object.fromEntries(Object.entries(to).map(([command, count]) => [command, (count - from[command as keyof SlurmCalls]) / jobs])) as SlurmCalls;
  /** The driver's calls from `from` until the step's jobs have ended in its view (it polls them to their end). */
  const callsOfStep = async (from: SlurmCalls, jobs: number) => {
    await settle();
    // The driver sees the jobs settle() cancelled on its next poll or two.
    await sleep(2 * POLL_MS + 500);
    return perJob(from, rig.slurmCalls(), jobs);
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

  const timeBareShell = async (concurrency: number): Promise<ThroughputMeasurement> => {
    await settle();
    const started = performance.now();
    const script = `seq ${total} | xargs -P ${concurrency} -I{} sbatch --parsable --time=1 --job-name=${bareName} --output=/dev/null --wrap=true`;
    const out = await slurm(slurmConf, 'sh', ['-c', script], 120_000);
    const seconds = (performance.now() - started) / 1000;
    const submitted = out.split('\n').filter((line) => /^\d+/.test(line.trim())).length;
    return { jobs: total, failed: total - submitted, seconds, jobsPerSecond: submitted / seconds };
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
      const reply = await client.call('jobs.create', { jobs }, { timeoutMs: 60_000 }).catch(() => null);
      callTimes.push(performance.now() - callStarted);
      failed += reply ? reply.results.filter((result) => !result.ok).length : jobs.length;
    }
    const seconds = (performance.now() - started) / 1000;
    return { jobs: total, failed, seconds, jobsPerSecond: (total - failed) / seconds, callLatency: summarize(callTimes) };
  };

  // Interleaved, so a cluster that slows down over the run does not favour either side.
  const bareSequential = await timeBare(1);
  const beforeBulk = rig.slurmCalls();
  const bulk = await timeSwitchyard(bulkSize);
  const bulkCalls = await callsOfStep(beforeBulk, total);
  const beforeProvider = rig.slurmCalls();
  const providerBulk = await timeProvider(bulkSize);
  const providerCalls = await callsOfStep(beforeProvider, total);
  const bareConcurrent = await timeBare(RUNTIME_CONCURRENCY);
  const bareShell = await timeBareShell(RUNTIME_CONCURRENCY);
  const beforeSingle = rig.slurmCalls();
  const single = await timeSwitchyard(1);
  const singleCalls = await callsOfStep(beforeSingle, total);

  // --- (b) submission → RUNNING ------------------------------------------
  const untilSwitchyardRunning = async (name: string) => {
    const started = performance.now();
    const [result] = await create([spec(name, ['sleep', '5'])]);
    if (!result?.job) throw new Error(`createJobs refused the job: ${JSON.stringify(result?.error)}`);
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
  const beforeLatency = rig.slurmCalls();
  // One untimed round of each, then alternating.
  // slurmctld starts jobs on a cadence of its own (about a second here): a loop that submits as
  // soon as the last step settled locks onto it, and either side's figure then depends on how long
  // the other took. A random pause (0-1 s) before each submission spreads them over its phase.
  const dephase = () => sleep(Math.random() * 1_000);
  for (let run = -1; run < latencyRuns; run++) {
    await settle();
    await dephase();
    const s = await untilSwitchyardRunning(`latency-${run}`);
    await settle();
    await dephase();
    const b = await untilBareRunning();
    if (run >= 0) {
      switchyardSamples.push(s);
      bareSamples.push(b);
    }
  }
  const latencyCalls = await callsOfStep(beforeLatency, latencyRuns + 1);

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
      bareShell: { ...bareShell, concurrency: RUNTIME_CONCURRENCY },
      cancelled,
    },
    toRunning: { switchyard, bare, ratioP50: switchyard.p50 / bare.p50 },
    slurmCallsPerJob: { switchyardBulk: bulkCalls, providerBulk: providerCalls, switchyardSingle: singleCalls, toRunning: latencyCalls },
    otherJobsSeen,
    seconds: (performance.now() - benchStarted) / 1000,
  };
}

/** One line per figure, as bench/run.ts reports them, for a run of this benchmark alone. */
function report(result: SlurmResult): void {
  const tp = result.throughput;
  const rate = (m: { jobsPerSecond: number; failed: number }) => `${m.jobsPerSecond.toFixed(1)} jobs/s${m.failed > 0 ? ` (${m.failed} failed)` : ''}`;
  const fastest = Math.max(tp.bareConcurrent.jobsPerSecond, tp.bareSequential.jobsPerSecond);
  const calls = (c: SlurmCalls) => (Object.entries(c) as [string, number][]).map(([command, n]) => `${command} ${n.toFixed(2)}`).join(', ');
  const lines = [
    `bare sbatch one by one                 ${rate(tp.bareSequential)}`,
    `bare sbatch ${tp.bareConcurrent.concurrency} at once                 ${rate(tp.bareConcurrent)}`,
    `bare sbatch ${tp.bareShell.concurrency} at once from a shell    ${rate(tp.bareShell)}`,
    `Switchyard createJobs ${tp.switchyardBulk.jobs / tp.switchyardBulk.bulkSize} × ${tp.switchyardBulk.bulkSize}          ${rate(tp.switchyardBulk)}  ${(tp.switchyardBulk.jobsPerSecond / fastest).toFixed(2)}× fastest bare; call p50 ${tp.switchyardBulk.callLatency.p50.toFixed(0)} ms`,
    `Switchyard createJobs vs the shell      ${(tp.switchyardBulk.jobsPerSecond / tp.bareShell.jobsPerSecond).toFixed(2)}× bare from a shell`,
    `provider alone over NATS ${tp.providerBulk.jobs / tp.providerBulk.bulkSize} × ${tp.providerBulk.bulkSize}       ${rate(tp.providerBulk)}  ${(tp.providerBulk.jobsPerSecond / fastest).toFixed(2)}× fastest bare`,
    `Switchyard createJobs 1 × ${tp.switchyardSingle.jobs}          ${rate(tp.switchyardSingle)}  ${(tp.switchyardSingle.jobsPerSecond / tp.bareSequential.jobsPerSecond).toFixed(2)}× bare one by one`,
    `submission → RUNNING p50               Switchyard ${result.toRunning.switchyard.p50.toFixed(0)} ms, bare ${result.toRunning.bare.p50.toFixed(0)} ms: ${result.toRunning.ratioP50.toFixed(2)}×` +
      ` (max ${result.toRunning.switchyard.max.toFixed(0)} vs ${result.toRunning.bare.max.toFixed(0)} ms)`,
    `Slurm calls per job, bulk              ${calls(result.slurmCallsPerJob.switchyardBulk)}`,
    `Slurm calls per job, provider alone    ${calls(result.slurmCallsPerJob.providerBulk)}`,
    `Slurm calls per job, one by one        ${calls(result.slurmCallsPerJob.switchyardSingle)}`,
    `Slurm calls per job, to RUNNING        ${calls(result.slurmCallsPerJob.toRunning)}`,
  ];
  if (result.otherJobsSeen > 0)
    lines.push(`warning: up to ${result.otherJobsSeen} jobs of others were in the queue between steps: the cluster was not idle`);
  console.log(lines.join('\n'));
}

/** This benchmark alone, with servers of its own: `SLURM_CONF=… npx tsx bench/slurm.ts [--jobs=N] [--runs=N]`. */
async function runAlone(argv: readonly string[]): Promise<void> {
  const skip = slurmSkipReason();
  if (skip) throw new Error(skip);
  const option = (name: string, fallback: number) => {
    const value = argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
    return value === undefined ? fallback : Number(value);
  };
  const runId = randomBytes(4).toString('hex');
  const services = await startServices();
  let rig: SlurmRig | null = null;
  try {
    rig = await startSlurmRig({
      natsUrl: services.natsUrl,
      redisUrl: services.redisUrl,
      subjectPrefix: `bench${runId}y`,
      keyPrefix: `bench${runId}-slurm`,
      onTransportError: (error, where) => console.error(`bench: transport error at ${where}:`, error),
      slurmConf: process.env.SLURM_CONF!,
      runId,
    });
    const result = await benchSlurm(rig, { jobs: option('jobs', 200), latencyRuns: option('runs', 10) });
    report(result);
    const out = argv.find((arg) => arg.startsWith('--out='))?.slice('--out='.length);
    if (out) writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await rig?.stop();
    await services.stop();
  }
}

if (process.argv[1] && existsSync(process.argv[1]) && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runAlone(process.argv.slice(2)).then(
    () => process.exit(0),
    (error: unknown) => {
      console.error('bench failed:', error);
      process.exit(1);
    },
  );
}
