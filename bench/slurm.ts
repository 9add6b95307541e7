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
 *     many at once as the driver runs sbatch (16). From the first call
 *     to the last accepted reply. To tell the gateway's share from the
 *     provider's: the same bulk sent straight to the provider (its
 *     `jobs.create` over NATS, as the gateway sends it), bypassing GraphQL.
 *     Bare sbatch also from a shell (`xargs -P 16`), of `--wrap=true` and of
 *     Switchyard's own jobs (the driver's script, srun and arguments): the
 *     bulk steps run in rounds beside these, and each ratio is a median of
 *     the rounds' own ratios.
 * (b) Submission → RUNNING on an idle cluster, one `sleep 5` job at a time, each after a random
 *     pause so that neither side is locked to slurmctld's own scheduling cadence:
 *     Switchyard (createJobs → the job's status RUNNING, GraphQL polled every
 *     20 ms) against bare sbatch (sbatch → squeue shows R, polled every 20 ms).
 *
 * (c) Slurm's load: every squeue, sacct, scontrol, sinfo and scancel the
 *     driver runs goes through a counting wrapper on its PATH (one `sh` exec
 *     more per call; sbatch is not wrapped), reported per job for each step.
 * (d) Where the CPU goes: every throughput step reads the CPU time of this
 *     process (gateway and provider runtime), the command runners and the
 *     commands they ran, NATS, Redis, slurmctld, slurmd, munged and the rest of
 *     the machine before and after it (bench/cpu.ts), per job. On a machine
 *     that is busy all through a step, a side's rate follows its CPU per job.
 *
 * Run alone with `SLURM_CONF=… npx tsx bench/slurm.ts [--jobs=200] [--runs=20] [--rounds=3]`
 * (its own nats-server and redis-server, as bench/run.ts starts them).
 *
 * Only this run's jobs are ever cancelled: ours by their script in this
 * run's work directory (the driver names them `sy-<id>`), bare ones by a job
 * name of their own. Other users of the cluster (tests running at the same
 * time) are left alone, and counted, since they make the cluster not idle.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createProviderRuntime, type ProviderRuntime } from '../providers/sdk/runtime.js';
import { createAccountMap } from '../providers/sdk/unix-accounts.js';
import { SLURM_ARRAY_NAME_PREFIX } from '../providers/slurm/slurm-arrays.js';
import { batchScript, sbatchArgs } from '../providers/slurm/slurm-batch-script.js';
import { parsePartitions, parseSinfoNodes, SINFO_NODE_FORMAT } from '../providers/slurm/slurm-cli.js';
import { createSlurmDriver, SLURM_JOB_NAME_PREFIX } from '../providers/slurm/slurm-driver.js';
import { buildProducts, checkPartitionConfig, timeLimitMinutes } from '../providers/slurm/slurm-products.js';
import { systemClock } from '../shared/clock.js';
import type { Product } from '../shared/domain.js';
import { silentLogger, type Logger } from '../shared/logger.js';
import { createSubjects } from '../shared/subjects.js';
import type { Transport } from '../shared/transport.js';
import { createNatsTransport } from '../shared/transport/nats-transport.js';
import { fund } from '../test/support/credits.js';
import { makeCreateJob } from '../test/support/jobs.js';
import { cpuPerJob, describeCpu, meanCpu, readCpu, type CpuFigures } from './cpu.js';
import { startRig, type Rig, type RigOptions } from './rig.js';
import { startServices } from './services.js';
import { numberOption, runWhenMain, writeOut } from './standalone.js';
import { sleep, summarize, waitFor, type LatencySummary } from './stats.js';

export const SLURM_PROVIDER_ID = 'bench-slurm';
/** The Slurm provider's own default (providers/slurm/main.ts SWITCHYARD_SLURM_POLL_MS). */
const POLL_MS = 1_000;
/** The Slurm driver's default submitConcurrency: sbatch it runs at once, however many creates are under way. */
const SUBMIT_CONCURRENCY = 16;
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
  // An array task by its task id (scancel refuses a running task's own numeric id).
  const out = await slurm(slurmConf, 'squeue', ['-h', '-r', '-t', 'PD,R,S,CG,CF', '-O', 'JobArrayID:|,Name:|,Command:|']);
  return out
    .split('\n')
    .map((line) => line.split('|'))
    .flatMap(([id, name, command]) => (id?.trim() ? [{ id: id.trim(), name: (name ?? '').trim(), command: (command ?? '').trim() }] : []));
}

export async function startSlurmRig(
  options: Omit<RigOptions, 'withProvider'> & { slurmConf: string; runId: string; logger?: Logger },
): Promise<SlurmRig> {
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
    job.name === bareName ||
    ((job.name.startsWith(SLURM_JOB_NAME_PREFIX) || job.name.startsWith(SLURM_ARRAY_NAME_PREFIX)) && job.command.startsWith(`${workDir}/`));
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
        // Job arrays are on by default; SWITCHYARD_SLURM_ARRAYS=false measures without them (the bare side always submits one sbatch per job).
        arrays: process.env.SWITCHYARD_SLURM_ARRAYS !== 'false',
        env: { ...process.env, PATH: `${counting.dir}:${process.env.PATH ?? ''}` },
      }),
      id: SLURM_PROVIDER_ID,
      kind: 'SLURM',
      version: 'bench',
      clock: systemClock,
      logger: options.logger ?? silentLogger(),
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
  /** Where the machine's CPU went while the jobs were submitted, ms per job (bench/cpu.ts). */
  cpuMsPerJob: CpuFigures;
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
    /** SUBMIT_CONCURRENCY sbatch at a time, as the driver runs them. */
    bareConcurrent: ThroughputMeasurement & { concurrency: number };
    /**
     * The same from a shell (`xargs -P 16 sbatch`, one spawn from here): what the cluster takes
     * without this process's fork() in the way (a fork of a few hundred MB costs milliseconds of
     * its event loop, and bounds the other bare figures here).
     */
    bareShell: ThroughputMeasurement & { concurrency: number };
    /** As bareShell, with the driver's own job directory, batch script (srun) and sbatch arguments. */
    bareShellSameJob: ThroughputMeasurement & { concurrency: number };
    /** The bulk steps' rounds: median over the rounds of each round's ratio, and every round's rates (jobs/s). */
    rounds: {
      count: number;
      bulkVsShell: number;
      bulkVsSameJob: number;
      providerVsShell: number;
      providerVsSameJob: number;
      rates: Record<keyof BulkRound, number>[];
      /** CPU ms per job of each bulk step while it submitted, the mean over the rounds (bench/cpu.ts). */
      cpuMsPerJob: Record<keyof BulkRound, CpuFigures>;
    };
    /** Jobs cancelled after each step (the rest had already ended). */
    cancelled: number[];
  };
  toRunning: {
    /** createJobs → status RUNNING through GraphQL, ms. */
    switchyard: LatencySummary;
    /** sbatch → squeue shows R, ms. */
    bare: LatencySummary;
    /** Of those, until the submission answered: createJobs' reply, and sbatch's (ms); the rest is Slurm starting the job and each side seeing it. */
    answered: { switchyard: LatencySummary; bare: LatencySummary };
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

/** One round of the bulk steps, each beside the others. */
interface BulkRound {
  bareShell: ThroughputMeasurement;
  switchyardBulk: ThroughputMeasurement & { callLatency: LatencySummary };
  providerBulk: ThroughputMeasurement & { callLatency: LatencySummary };
  bareShellSameJob: ThroughputMeasurement;
}

const BULK_STEPS = ['bareShell', 'switchyardBulk', 'providerBulk', 'bareShellSameJob'] as const satisfies readonly (keyof BulkRound)[];

/** Calls per job averaged over several steps. */
function meanCalls(steps: SlurmCalls[]): SlurmCalls {
  return Object.fromEntries(COUNTED.map((command) => [command, steps.reduce((sum, s) => sum + s[command], 0) / steps.length])) as SlurmCalls;
}

/** The middle one of a sorted list (the upper of the two middle ones of an even count). */
function middle<T>(sorted: readonly T[]): T {
  const found = sorted[Math.floor(sorted.length / 2)];
  if (found === undefined) throw new Error('no rounds to take a median of');
  return found;
}

type CreateReply = { createJobs: { job: { id: string } | null; error: { code: string; message: string } | null }[] };

export async function benchSlurm(
  rig: SlurmRig,
  options: { jobs?: number; bulkSize?: number; latencyRuns?: number; throughputRounds?: number } = {},
): Promise<SlurmResult> {
  const total = options.jobs ?? 200;
  const bulkSize = options.bulkSize ?? 100;
  const latencyRuns = options.latencyRuns ?? 20;
  const throughputRounds = options.throughputRounds ?? 3;
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
    const cpuBefore = readCpu();
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
    const cpuMsPerJob = cpuPerJob(cpuBefore, readCpu(), total);
    return { jobs: total, failed, seconds, jobsPerSecond: (total - failed) / seconds, cpuMsPerJob };
  };

  const timeBareShell = async (concurrency: number): Promise<ThroughputMeasurement> => {
    await settle();
    const cpuBefore = readCpu();
    const started = performance.now();
    const script = `seq ${total} | xargs -P ${concurrency} -I{} sbatch --parsable --time=1 --job-name=${bareName} --output=/dev/null --wrap=true`;
    const out = await slurm(slurmConf, 'sh', ['-c', script], 120_000);
    const seconds = (performance.now() - started) / 1000;
    const cpuMsPerJob = cpuPerJob(cpuBefore, readCpu(), total);
    const submitted = out.split('\n').filter((line) => /^\d+/.test(line.trim())).length;
    return { jobs: total, failed: total - submitted, seconds, jobsPerSecond: submitted / seconds, cpuMsPerJob };
  };

  /**
   * The same from a shell, but each job as the driver submits it: its own directory (its
   * account's alone), its batch script (srun of the command) and sbatch arguments, built by the
   * driver's own functions. What Slurm takes of Switchyard's jobs with nothing of Switchyard running.
   */
  const timeBareShellSameJob = async (concurrency: number): Promise<ThroughputMeasurement> => {
    await settle();
    const [shown, sinfo] = await Promise.all([
      slurm(slurmConf, 'scontrol', ['show', 'partition', '-o']),
      slurm(slurmConf, 'sinfo', ['-N', '-h', '-O', SINFO_NODE_FORMAT]),
    ]);
    const sold = buildProducts(checkPartitionConfig(undefined), parsePartitions(shown), parseSinfoNodes(sinfo).nodes, { suspension: true }).find(
      (p) => p.product.id === product.id,
    );
    if (!sold) throw new Error(`the cluster has no partition for ${product.id}`);
    // As the driver run as root does: for nobody (its default job account); as itself otherwise.
    const account = process.getuid?.() === 0 ? (await createAccountMap()).defaultAccount : null;
    const lines: string[] = [];
    for (let k = 0; k < total; k++) {
      const job = makeCreateJob(product, SLURM_PROVIDER_ID, { command: ['true'], name: `bare-same-${k}`, timeAllocationMs: 60_000 });
      const dir = join(rig.workDir, 'bare', job.id);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      if (account) chownSync(dir, account.uid, account.gid);
      const script = join(dir, 'job.sh');
      writeFileSync(script, batchScript(job, dir), { mode: 0o755 });
      const plan = { sold, timeMinutes: timeLimitMinutes(sold.partition, 60_000, 60), cwd: dir, dir, account };
      // One line per job, each argument quoted for xargs.
      lines.push(
        sbatchArgs(job, plan, script)
          .map((arg) => `'${arg.replace(/'/g, `'"'"'`)}'`)
          .join(' '),
      );
    }
    const argsFile = join(rig.workDir, 'bare', 'sbatch-args');
    writeFileSync(argsFile, `${lines.join('\n')}\n`);
    const cpuBefore = readCpu();
    const started = performance.now();
    const out = await slurm(slurmConf, 'sh', ['-c', `xargs -P ${concurrency} -L 1 -a '${argsFile}' sbatch`], 120_000);
    const seconds = (performance.now() - started) / 1000;
    const cpuMsPerJob = cpuPerJob(cpuBefore, readCpu(), total);
    const submitted = out.split('\n').filter((line) => /^\d+/.test(line.trim())).length;
    return { jobs: total, failed: total - submitted, seconds, jobsPerSecond: submitted / seconds, cpuMsPerJob };
  };

  const timeSwitchyard = async (perCall: number): Promise<ThroughputMeasurement & { callLatency: LatencySummary }> => {
    await settle();
    let failed = 0;
    const callTimes: number[] = [];
    const cpuBefore = readCpu();
    const started = performance.now();
    for (let from = 0; from < total; from += perCall) {
      const callStarted = performance.now();
      const results = await create(Array.from({ length: Math.min(perCall, total - from) }, (_, k) => spec(`tp-${perCall}-${from + k}`, ['true'])));
      callTimes.push(performance.now() - callStarted);
      failed += results.filter((result) => result.error !== null || result.job === null).length;
    }
    const seconds = (performance.now() - started) / 1000;
    const cpuMsPerJob = cpuPerJob(cpuBefore, readCpu(), total);
    return { jobs: total, failed, seconds, jobsPerSecond: (total - failed) / seconds, callLatency: summarize(callTimes), cpuMsPerJob };
  };

  const timeProvider = async (perCall: number): Promise<ThroughputMeasurement & { callLatency: LatencySummary }> => {
    await settle();
    const client = rig.gateway.registry.require(SLURM_PROVIDER_ID).client;
    let failed = 0;
    const callTimes: number[] = [];
    const cpuBefore = readCpu();
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
    const cpuMsPerJob = cpuPerJob(cpuBefore, readCpu(), total);
    return { jobs: total, failed, seconds, jobsPerSecond: (total - failed) / seconds, callLatency: summarize(callTimes), cpuMsPerJob };
  };

  // Interleaved, so a cluster that slows down over the run does not favour either side. The
  // bulk steps run in rounds, each beside the bare sbatch from a shell it is compared with: on a
  // host shared with other work the rate moves from one second to the next, and a ratio is only
  // worth something within a round (the figures reported are the medians over the rounds).
  const bareSequential = await timeBare(1);
  const rounds: BulkRound[] = [];
  const bulkCalls: SlurmCalls[] = [];
  const providerCalls: SlurmCalls[] = [];
  for (let round = 0; round < throughputRounds; round++) {
    const bareShell = await timeBareShell(SUBMIT_CONCURRENCY);
    const beforeBulk = rig.slurmCalls();
    const switchyardBulk = await timeSwitchyard(bulkSize);
    bulkCalls.push(await callsOfStep(beforeBulk, total));
    const beforeProvider = rig.slurmCalls();
    const providerBulk = await timeProvider(bulkSize);
    providerCalls.push(await callsOfStep(beforeProvider, total));
    const bareShellSameJob = await timeBareShellSameJob(SUBMIT_CONCURRENCY);
    rounds.push({ bareShell, switchyardBulk, providerBulk, bareShellSameJob });
  }
  const bareConcurrent = await timeBare(SUBMIT_CONCURRENCY);
  const medianRound = <K extends keyof BulkRound>(key: K): BulkRound[K] =>
    middle([...rounds].sort((a, b) => a[key].jobsPerSecond - b[key].jobsPerSecond))[key];
  const medianRatio = (of: keyof BulkRound, to: keyof BulkRound) =>
    middle(rounds.map((r) => r[of].jobsPerSecond / r[to].jobsPerSecond).sort((a, b) => a - b));
  const bulk = medianRound('switchyardBulk');
  const providerBulk = medianRound('providerBulk');
  const bareShell = medianRound('bareShell');
  const bareShellSameJob = medianRound('bareShellSameJob');
  const beforeSingle = rig.slurmCalls();
  const single = await timeSwitchyard(1);
  const singleCalls = await callsOfStep(beforeSingle, total);

  // --- (b) submission → RUNNING ------------------------------------------
  const untilSwitchyardRunning = async (name: string) => {
    const started = performance.now();
    const [result] = await create([spec(name, ['sleep', '5'])]);
    if (!result?.job) throw new Error(`createJobs refused the job: ${JSON.stringify(result?.error)}`);
    const answered = performance.now() - started;
    const id = result.job.id;
    for (;;) {
      const data = await rig.admin.ok<{ job: { status: { state: string } } | null }>(JOB_STATE, { id });
      const state = data.job?.status.state;
      if (state === 'RUNNING') return { total: performance.now() - started, answered };
      if (state && ['SUCCESS', 'FAILURE', 'EXPIRED'].includes(state)) throw new Error(`job ${id} ended ${state} before it was seen RUNNING`);
      if (performance.now() - started > 30_000) throw new Error(`job ${id} was not RUNNING within 30 s (last: ${state})`);
      await sleep(20);
    }
  };
  const untilBareRunning = async () => {
    const started = performance.now();
    const id = await sbatch('sleep 5');
    const answered = performance.now() - started;
    for (;;) {
      const state = (await slurm(slurmConf, 'squeue', ['-h', '-j', id, '-o', '%t'])).trim();
      if (state === 'R') return { total: performance.now() - started, answered };
      if (state !== 'PD' && state !== 'CF' && state !== '') throw new Error(`bare job ${id} is ${state}, not R`);
      if (performance.now() - started > 30_000) throw new Error(`bare job ${id} did not run within 30 s (last: ${state})`);
      await sleep(20);
    }
  };
  const switchyardSamples: Array<{ total: number; answered: number }> = [];
  const bareSamples: Array<{ total: number; answered: number }> = [];
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

  const switchyard = summarize(switchyardSamples.map((s) => s.total));
  const bare = summarize(bareSamples.map((s) => s.total));
  const answered = {
    switchyard: summarize(switchyardSamples.map((s) => s.answered)),
    bare: summarize(bareSamples.map((s) => s.answered)),
  };
  return {
    product: `${product.id} (${product.category})`,
    pollIntervalMs: POLL_MS,
    throughput: {
      switchyardBulk: { ...bulk, bulkSize },
      switchyardSingle: {
        jobs: single.jobs,
        failed: single.failed,
        seconds: single.seconds,
        jobsPerSecond: single.jobsPerSecond,
        cpuMsPerJob: single.cpuMsPerJob,
      },
      providerBulk: { ...providerBulk, bulkSize },
      bareSequential,
      bareConcurrent: { ...bareConcurrent, concurrency: SUBMIT_CONCURRENCY },
      bareShell: { ...bareShell, concurrency: SUBMIT_CONCURRENCY },
      bareShellSameJob: { ...bareShellSameJob, concurrency: SUBMIT_CONCURRENCY },
      rounds: {
        count: rounds.length,
        bulkVsShell: medianRatio('switchyardBulk', 'bareShell'),
        bulkVsSameJob: medianRatio('switchyardBulk', 'bareShellSameJob'),
        providerVsShell: medianRatio('providerBulk', 'bareShell'),
        providerVsSameJob: medianRatio('providerBulk', 'bareShellSameJob'),
        rates: rounds.map(
          (r) => Object.fromEntries(Object.entries(r).map(([step, m]) => [step, Math.round(m.jobsPerSecond)])) as Record<keyof BulkRound, number>,
        ),
        cpuMsPerJob: Object.fromEntries(BULK_STEPS.map((step) => [step, meanCpu(rounds.map((r) => r[step].cpuMsPerJob))])) as Record<
          keyof BulkRound,
          CpuFigures
        >,
      },
      cancelled,
    },
    toRunning: { switchyard, bare, answered, ratioP50: switchyard.p50 / bare.p50 },
    slurmCallsPerJob: {
      switchyardBulk: meanCalls(bulkCalls),
      providerBulk: meanCalls(providerCalls),
      switchyardSingle: singleCalls,
      toRunning: latencyCalls,
    },
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
    `bare sbatch of Switchyard's jobs, shell ${rate(tp.bareShellSameJob)}  (their script and arguments)`,
    `Switchyard createJobs vs the shell      ${tp.rounds.bulkVsShell.toFixed(2)}× bare from a shell, ${tp.rounds.bulkVsSameJob.toFixed(2)}× its own jobs from a shell (median of ${tp.rounds.count} rounds)`,
    `provider alone vs the shell            ${tp.rounds.providerVsShell.toFixed(2)}× bare from a shell, ${tp.rounds.providerVsSameJob.toFixed(2)}× its own jobs from a shell`,
    `rounds (jobs/s)                        ${tp.rounds.rates.map((r) => `shell ${r.bareShell}, Switchyard ${r.switchyardBulk}, provider ${r.providerBulk}, own jobs ${r.bareShellSameJob}`).join('; ')}`,
    `provider alone over NATS ${tp.providerBulk.jobs / tp.providerBulk.bulkSize} × ${tp.providerBulk.bulkSize}       ${rate(tp.providerBulk)}  ${(tp.providerBulk.jobsPerSecond / fastest).toFixed(2)}× fastest bare`,
    `Switchyard createJobs 1 × ${tp.switchyardSingle.jobs}          ${rate(tp.switchyardSingle)}  ${(tp.switchyardSingle.jobsPerSecond / tp.bareSequential.jobsPerSecond).toFixed(2)}× bare one by one`,
    `submission → RUNNING p50               Switchyard ${result.toRunning.switchyard.p50.toFixed(0)} ms, bare ${result.toRunning.bare.p50.toFixed(0)} ms: ${result.toRunning.ratioP50.toFixed(2)}×` +
      ` (max ${result.toRunning.switchyard.max.toFixed(0)} vs ${result.toRunning.bare.max.toFixed(0)} ms)`,
    `  of which the submission answered p50  createJobs ${result.toRunning.answered.switchyard.p50.toFixed(0)} ms, sbatch ${result.toRunning.answered.bare.p50.toFixed(0)} ms`,
    ...BULK_STEPS.map((step) => `CPU per job, ${step.padEnd(25)}${describeCpu(tp.rounds.cpuMsPerJob[step])}`),
    `CPU per job, switchyardSingle         ${describeCpu(tp.switchyardSingle.cpuMsPerJob)}`,
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
  const option = (name: string, fallback: number) => numberOption(argv, name, fallback);
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
    const result = await benchSlurm(rig, { jobs: option('jobs', 200), latencyRuns: option('runs', 20), throughputRounds: option('rounds', 3) });
    report(result);
    writeOut(argv, result);
  } finally {
    await rig?.stop();
    await services.stop();
  }
}

runWhenMain(import.meta.url, runAlone);
