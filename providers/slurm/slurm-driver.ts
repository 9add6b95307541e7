/**
 * The Slurm provider: runs a job as a Slurm batch job on a real cluster.
 *
 * - create: a batch script that launches the job's command with `srun`, one
 *   task per replica, each rank writing its own output files
 *   (slurm-batch-script.ts); submitted with `sbatch --parsable`, named
 *   `sy-<job id>` with the job id as its comment.
 * - state: the poller (slurm-poller.ts) asks squeue about all of the
 *   provider's jobs, which also gives the exit code of those that ended; for
 *   the ones it no longer lists, sacct (accounting storage or the jobcomp
 *   file) and `scontrol show job` do (slurm-queue.ts). Slurm's states map to
 *   the contract's in slurm-states.ts.
 * - output: the rank files are tailed into log lines (slurm-output.ts).
 * - products: one per partition, or as configured (slurm-products.ts).
 * - terminate/suspend/resume/extend: scancel, scontrol suspend/resume,
 *   scontrol update TimeLimit=+N.
 * - records: one JSON file per job in the work directory (the SDK's job
 *   book), written before sbatch runs, so a restarted provider finds every
 *   job again; jobs the records miss are found by name in squeue.
 * - accounts: a provider running as root submits each job for an
 *   unprivileged account (`sbatch --uid/--gid`): `nobody` unless the
 *   Switchyard user is mapped to an account of its own. The job's directory is
 *   that account's alone; scancel, scontrol and squeue still run as the
 *   provider.
 */
import { setMaxListeners } from 'node:events';
import { chmod, chown, mkdir, readdir, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { isAbsolute, join, resolve, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  connectTcpSession,
  createAccountMap,
  createJobBook,
  describeAccount,
  idSchema,
  InvalidInputError,
  InvalidStateError,
  isFinalState,
  must,
  ProviderUnavailableError,
  requireActive,
  requireNotEnded,
  requireState,
  spawnPtySession,
  STATUS,
  UnsupportedError,
  type AccountMap,
  type CreateJob,
  type Driver,
  type DriverContext,
  type DriverSession,
  type DriverSessionRequest,
  type Manifest,
  type UnixAccount,
  type Utilization,
} from '../sdk/index.js';
import { createCommandRunner } from './command-runner.js';
import {
  arrayDispatchScript,
  arrayKey,
  arraySbatchArgs,
  arrayTaskId,
  newArrayName,
  parseArrayTaskId,
  parseSbatchAnswer,
  taskLink,
} from './slurm-arrays.js';
import { batchScript, sbatchArgs, SHELL_PATH, shellStepArgs, SLURM_JOB_NAME_PREFIX, type SbatchPlan } from './slurm-batch-script.js';
import {
  createSlurmCli,
  firstLines,
  parsePartitions,
  parseSinfoNodes,
  SINFO_NODE_FORMAT,
  SlurmCommandError,
  type SinfoNode,
  type SlurmCli,
  type SlurmPartitionInfo,
  type SqueueJob,
  type SqueueLine,
} from './slurm-cli.js';
import { tailOutput } from './slurm-output.js';
import { createSlurmPoller } from './slurm-poller.js';
import {
  buildProducts,
  checkPartitionConfig,
  slurmUtilization,
  timeLimitMinutes,
  type PartitionProduct,
  type SlurmPartitionProduct,
} from './slurm-products.js';
import { createSlurmQueue, newestNamed, taskOfArray } from './slurm-queue.js';
import { foundRecord, numericJobId, slurmJob, slurmJobRecordSchema, submittedRecord, type SlurmJob, type SlurmJobRecord } from './slurm-records.js';
import { deadlineOf, viewOf } from './slurm-states.js';
import { partitionsView, slurmJobDetails, slurmSubschema } from './slurm-subschema.js';
import { createSubmitBatcher } from './submit-batcher.js';

export { SLURM_JOB_NAME_PREFIX } from './slurm-batch-script.js';
export { slurmPartitionProductSchema, type SlurmPartitionProduct } from './slurm-products.js';

export interface SlurmDriverOptions {
  /** Where job records, batch scripts and the ranks' output files live; must survive restarts and, on a multi-node cluster, be on a file system the compute nodes share. */
  workDir: string;
  /** Path of the cluster's slurm.conf. @default env.SLURM_CONF (else Slurm's own default) */
  slurmConf?: string;
  /** Which partitions are sold and how. @default one product per partition the cluster has */
  partitions?: SlurmPartitionProduct[];
  /** How often squeue is asked about the provider's jobs. @default 1000 */
  pollIntervalMs?: number;
  /** How long one Slurm command may take before it is killed. @default 10000 */
  commandTimeoutMs?: number;
  /**
   * How many sbatch run at once, however many creates are under way (slurmctld takes submissions
   * one at a time: more at once only wait there, and slow its answers to everyone). @default 16
   */
  submitConcurrency?: number;
  /**
   * Submit the jobs that wait for a submit slot at once, and ask for the same resources, together as
   * one Slurm job array (slurm-arrays.ts): one sbatch for many jobs. A job that finds a slot free goes alone. @default true
   */
  arrays?: boolean;
  /**
   * With arrays on, when more creates are under way than free submit slots: the longest a job that is
   * ready to submit waits for those still writing their files, so that a bulk create goes as one array
   * and not as one sbatch per job while slots happen to be free (submit-batcher.ts). Creates that the
   * free slots take all go alone at once. @default 50
   */
  submitGatherMs?: number;
  /** How many helper processes launch Slurm's commands side by side (command-runner.ts). @default 2 */
  commandProcesses?: number;
  /** Environment of the Slurm commands (PATH decides which sbatch runs). @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Time limit when neither the job nor the partition has one (minutes). @default 60 */
  fallbackTimeMinutes?: number;
  /** Offer suspension (needs an operator or SlurmUser account: `scontrol suspend` is refused to others). @default true */
  suspension?: boolean;
  /** The account (name, uid or uid:gid) jobs of users not in `userAccounts` are submitted for, when the provider runs as root. @default 'nobody' */
  jobAccount?: string;
  /** Switchyard user (the job's owner.createdBy) → Unix account. @default {} */
  userAccounts?: Record<string, string>;
}

/** What a failed Slurm command means for the caller of an operation. */
function operationError(error: unknown, jobId: string, action: string): unknown {
  if (!(error instanceof SlurmCommandError) || error.timedOut || error.exitCode === null) return error;
  const text = `${error.stderr}`;
  const why = firstLines(text) || error.detail;
  if (
    /already completing or completed|has already finished|Job is no longer pending|Invalid job id|is not suspended|is not running|Job is current|not suspendable/i.test(
      text,
    )
  ) {
    return new InvalidStateError(jobId, `Cannot ${action} job ${jobId}: Slurm says "${why}"`);
  }
  if (/Access\/permission denied|not authorized|Permission denied/i.test(text)) {
    return new UnsupportedError(`Slurm does not let the provider ${action} job ${jobId} ("${why}"); it needs an operator account`);
  }
  return error;
}

/** Tasks in one job array at most, and creates under way at once (Slurm's MaxArraySize is 1001 by default). */
const MAX_ARRAY_TASKS = 256;
/** The longest a suspend waits for a job's ranks to start (stepLaunched). */
const STEP_LAUNCH_WAIT_MS = 5_000;

/** A promise's outcome, as Promise.allSettled gives it. */
const settle = <T>(promise: Promise<T>): Promise<PromiseSettledResult<T>> =>
  promise.then(
    (value) => ({ status: 'fulfilled', value }),
    (reason: unknown) => ({ status: 'rejected', reason }),
  );

/** sbatch's refusals that are the job's fault, not the cluster's. */
const REFUSED_JOB =
  /Requested time limit is invalid|More processors requested|Memory required by task is not available|Requested node configuration is not available|Invalid generic resource|Invalid account|Invalid qos/i;

/** Create the Slurm provider's driver. Options are checked now; partitions when it starts. */
export function createSlurmDriver(options: SlurmDriverOptions): Driver {
  const partitionConfig = checkPartitionConfig(options.partitions);
  if (!isAbsolute(options.workDir)) throw new InvalidInputError(`The Slurm work directory must be an absolute path: ${options.workDir}`);
  const pollIntervalMs = options.pollIntervalMs ?? 1_000;
  const fallbackTimeMinutes = options.fallbackTimeMinutes ?? 60;
  const suspension = options.suspension ?? true;
  let ctx: DriverContext | null = null;
  // Slurm's commands run in small processes of their own: forking this one would stall its event loop.
  const runner = createCommandRunner({
    logger: () => ctx?.logger,
    processes: options.commandProcesses,
    limits: { sbatch: options.submitConcurrency ?? 16 },
  });
  const cli: SlurmCli = createSlurmCli({ slurmConf: options.slurmConf, env: options.env, timeoutMs: options.commandTimeoutMs ?? 10_000 }, runner.run);

  /** Set at start: who jobs are submitted for; null when the provider is not root and submits them as itself. */
  let accounts: AccountMap | null = null;
  /** Accounts named by records read at start: squeue must list their jobs too, whatever the map says now. */
  const recordedUids = new Set<number>();
  let workDir = options.workDir;
  let jobsDir = join(workDir, 'jobs');
  let products: PartitionProduct[] = [];
  /** One signal stops every Slurm command at stop(); each command in flight listens to it. */
  const newAbort = () => {
    const controller = new AbortController();
    // Many commands run at once (bulk submissions): more listeners than Node's default warning limit.
    setMaxListeners(256, controller.signal);
    return controller;
  };
  let abort = newAbort();

  const context = (): DriverContext => {
    if (!ctx) throw new Error('the Slurm driver is not started');
    return ctx;
  };
  const now = () => context().clock.now();
  const logger = () => context().logger;
  const run = (command: string, args: readonly string[]) => cli.run(command, args, { signal: abort.signal });
  const jobDir = (id: string) => join(jobsDir, id);

  const jobs = createJobBook<SlurmJobRecord, SlurmJob>({
    context,
    files: { dir: () => jobsDir, schema: slurmJobRecordSchema },
    providerGeneratedId: (job) => job.record.slurmJobId,
    apply: (record, update) => {
      if (update.usageUnits !== undefined) record.usageUnits = update.usageUnits;
    },
  });
  const change = jobs.change;
  const live = (record: SlurmJobRecord): SlurmJob => slurmJob(record, jobDir(record.id));
  const productOf = (productId: string) => products.find((p) => p.product.id === productId);

  /**
   * Whose jobs squeue lists: ours only (`--me`) when jobs run as the provider;
   * otherwise every account jobs may run as, those its records name (an
   * account since unmapped) and the provider's own (jobs from before).
   */
  const userFilter = (): string[] => {
    if (!accounts) return ['--me'];
    const uids = new Set([...accounts.accounts().map((a) => a.uid), process.getuid?.() ?? 0]);
    for (const job of jobs.values()) if (job.record.account) uids.add(job.record.account.uid);
    for (const uid of recordedUids) uids.add(uid);
    return [`--users=${[...uids].join(',')}`];
  };

  const queue = createSlurmQueue({ run, users: userFilter, jobsDir: () => jobsDir, logger });
  const tail = (job: SlurmJob, final: boolean) => tailOutput(job, final, { send: (line) => context().log(job.record.id, line), now, logger });
  /** Submissions under way: while there are any, a job that starts is not on its own. */
  let submitting = 0;
  const poller = createSlurmPoller({ jobs, queue, context: () => ctx, tail, intervalMs: pollIntervalMs, submitting: () => submitting });

  const readCluster = async (): Promise<{ partitions: SlurmPartitionInfo[]; nodes: SinfoNode[] }> => {
    const [shown, sinfo] = await Promise.all([run('scontrol', ['show', 'partition', '-o']), run('sinfo', ['-N', '-h', '-O', SINFO_NODE_FORMAT])]);
    const partitions = parsePartitions(shown.stdout);
    const parsed = parseSinfoNodes(sinfo.stdout);
    if (parsed.problems.length > 0)
      logger().warn({ lines: parsed.problems.slice(0, 5) }, 'did not understand some sinfo lines; those nodes are left out');
    return { partitions, nodes: parsed.nodes };
  };

  // --- create ---------------------------------------------------------------

  const validate = (job: CreateJob): Omit<SbatchPlan, 'account'> => {
    const spec = job.specification;
    if (!idSchema.safeParse(job.id).success) throw new InvalidInputError(`Invalid job id "${job.id}"`);
    const sold = productOf(job.product.id);
    if (!sold) throw new InvalidInputError(`The Slurm provider does not sell product ${job.product.id}`);
    const command = spec.command ?? [];
    if (command.length === 0 || command[0] === '') throw new InvalidInputError('The Slurm provider runs a command: specification.command is missing');
    if (command.some((word) => word.includes('\0'))) throw new InvalidInputError('The command must not contain NUL characters');
    for (const [key, value] of Object.entries(spec.env ?? {})) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new InvalidInputError(`Invalid environment variable name "${key}"`);
      if (value.includes('\0')) throw new InvalidInputError(`Environment variable ${key} must not contain NUL characters`);
    }
    if (spec.replicas > sold.product.support.maxReplicas) {
      throw new InvalidInputError(`Partition ${sold.partition.name} runs at most ${sold.product.support.maxReplicas} replicas of ${sold.product.id}`);
    }
    if (spec.workingDir !== null && !isAbsolute(spec.workingDir))
      throw new InvalidInputError(`The working directory must be an absolute path: ${spec.workingDir}`);
    if (spec.workingDir?.includes('\0') || spec.workingDir?.includes('\n')) throw new InvalidInputError('Invalid working directory');
    const timeMinutes = timeLimitMinutes(sold.partition, spec.timeAllocationMs, fallbackTimeMinutes);
    return { sold, timeMinutes, cwd: spec.workingDir ?? jobDir(job.id), dir: jobDir(job.id) };
  };

  /** A job of ours Slurm knows (found by name), as a record: the one saved before sbatch ran, or one from Slurm's view alone. */
  const adopt = (id: string, row: SqueueJob, base?: SlurmJobRecord): SlurmJob => {
    const record = base
      ? { ...base, slurmJobId: row.slurmJobId }
      : foundRecord(id, row, products.find((p) => p.partition.name === row.partition) ?? null);
    const job = live(record);
    jobs.set(job);
    void jobs.save(job);
    return job;
  };

  /** A working directory in the provider's work directory would reach other jobs' scripts and output: refused. */
  const refuseWorkDir = async (workingDir: string | null) => {
    if (workingDir === null) return;
    // Symlinks resolved where the directory exists on this host.
    const dir = await realpath(workingDir).catch(() => resolve(workingDir));
    if (dir === workDir || dir.startsWith(`${workDir}${sep}`)) {
      throw new InvalidInputError(`The working directory ${workingDir} is in the Slurm provider's work directory; jobs may not use it`);
    }
  };

  /** The job's directory, its account's alone, and its batch script in it; `madeNow`: the directory is new, so no output in it is older than this submission. */
  const writeScript = async (job: CreateJob, dir: string, account: UnixAccount | null): Promise<{ script: string; madeNow: boolean }> => {
    // Made now (not a retried submission's): it is new, empty, and has the mode asked for.
    const made = (await mkdir(dir, { recursive: true, ...(account ? { mode: 0o700 } : {}) })) !== undefined;
    if (account) {
      // Slurm writes the output files as the job's account; no other account may read them.
      await chown(dir, account.uid, account.gid);
      if (!made) await chmod(dir, 0o700);
    }
    const script = join(dir, 'job.sh');
    // Written afresh, never through a link the job's account may have left in its directory (a retried submission).
    if (!made) await rm(script, { force: true });
    await writeFile(script, batchScript(job, dir), { mode: 0o755, flag: 'wx' });
    return { script, madeNow: made };
  };

  /** A job ready for sbatch: its script written and its record saved; waiting for a submit slot. */
  interface ReadyJob {
    job: CreateJob;
    plan: SbatchPlan;
    script: string;
    /** sbatch's arguments for the job alone. */
    args: string[];
    /** Its record as saved before sbatch runs. */
    pending: SlurmJob;
    /** Its directory was made for this submission: output found in it is this submission's launch. */
    newDirectory: boolean;
  }

  /** sbatch took the job as `slurmJobId`: its record, its first change, and a watch on its start. */
  const accepted = async (ready: ReadyJob, slurmJobId: string, array: SlurmJobRecord['array'], how: string): Promise<SlurmJob> => {
    const { job, plan } = ready;
    logger().debug({ jobId: job.id, slurmJobId }, 'sbatch took the job');
    const entry = live(submittedRecord(job, slurmJobId, plan, array));
    jobs.set(entry);
    change(entry, {
      state: 'IN_QUEUE',
      status: `Submitted to Slurm as job ${slurmJobId}${how} in partition ${plan.sold.partition.name}`,
      providerGeneratedId: slurmJobId,
    });
    // Its start is seen as Slurm launches it, not at the next poll (even when that was before the watch began).
    void poller.watch(entry, { newDirectory: ready.newDirectory });
    await jobs.saved(job.id);
    return entry;
  };

  /** sbatch's refusal as the caller's error: the job's fault (INVALID_INPUT) or the cluster's. */
  const submitError = (error: unknown): unknown => {
    if (error instanceof SlurmCommandError && error.exitCode !== null) {
      const why = firstLines(error.stderr) || error.detail;
      if (REFUSED_JOB.test(why)) return new InvalidInputError(`Slurm refused the job: ${why}`);
    }
    return error;
  };

  /** Did the command stop without an answer (it may have gone through)? */
  const unanswered = (error: unknown) => error instanceof SlurmCommandError && (error.timedOut || error.exitCode === null);

  /** One job, one sbatch. */
  const submitAlone = async (ready: ReadyJob): Promise<SlurmJob> => {
    const { job, pending } = ready;
    let output: string;
    try {
      output = (await run('sbatch', ready.args)).stdout;
    } catch (error) {
      if (unanswered(error)) {
        // It may have been submitted before it stopped answering: look before giving up.
        const found = await queue.findByName(job.id).catch(() => null);
        if (found) {
          logger().warn({ jobId: job.id, slurmJobId: found.slurmJobId }, 'sbatch did not answer but the job was submitted');
          return adopt(job.id, found, pending.record);
        }
      }
      await jobs.discard(job.id);
      throw submitError(error);
    }
    let slurmJobId = parseSbatchAnswer(output);
    if (slurmJobId === null) {
      logger().warn({ jobId: job.id, output }, 'sbatch answered something Switchyard does not understand; looking the job up by name');
      slurmJobId = (await queue.findByName(job.id).catch(() => null))?.slurmJobId ?? null;
      if (slurmJobId === null) {
        await jobs.discard(job.id);
        throw new ProviderUnavailableError(
          context().providerId,
          `sbatch answered "${firstLines(output)}", which is not a job id, and no job ${SLURM_JOB_NAME_PREFIX}${job.id} is in the queue`,
        );
      }
    }
    return accepted(ready, slurmJobId, null, '');
  };

  /** The array's directory in the jobs directory: its dispatch script, and a link per task to the task's job directory. */
  const writeArray = async (name: string, batch: readonly ReadyJob[]): Promise<{ dir: string; script: string }> => {
    const dir = jobDir(name);
    await mkdir(dir, { mode: 0o711 });
    await Promise.all(batch.map((ready, task) => symlink(ready.plan.dir, taskLink(dir, task))));
    const script = join(dir, 'array.sh');
    const tasks = batch.map((ready) => ({ dir: ready.plan.dir, cwd: ready.plan.cwd, script: ready.script }));
    await writeFile(script, arrayDispatchScript(name, tasks), { mode: 0o755, flag: 'wx' });
    return { dir, script };
  };

  /** Jobs that waited for a slot together, as one job array: one sbatch, one task per job. */
  const submitArray = async (batch: ReadyJob[]): Promise<Array<PromiseSettledResult<SlurmJob>>> => {
    const name = newArrayName();
    const arrayOf = (task: number) => ({ name, task });
    // Each record names its array and task before sbatch runs: a restart finds the tasks by the array's name.
    await Promise.all(
      batch.map((ready, task) => {
        ready.pending.record.array = arrayOf(task);
        return jobs.save(ready.pending);
      }),
    );
    const written = await writeArray(name, batch);
    const args = arraySbatchArgs(batch[0]!.args, name, batch.length, written.dir, written.script);
    const tasksFound = async () => new Map((await queue.findArray(name).catch(() => [])).map((row) => [parseArrayTaskId(row.slurmJobId)?.task, row]));
    const adoptFound = async (found: Map<number | undefined, SqueueJob>, why: string) => {
      logger().warn({ array: name, tasks: found.size }, why);
      return Promise.allSettled(
        batch.map(async (ready, task) => {
          const row = found.get(task);
          if (row) return adopt(ready.job.id, row, ready.pending.record);
          await jobs.discard(ready.job.id);
          throw new ProviderUnavailableError(context().providerId, `Slurm does not list task ${task} of the job array ${name} it was submitted in`);
        }),
      );
    };
    let output: string;
    try {
      output = (await run('sbatch', args)).stdout;
    } catch (error) {
      if (unanswered(error)) {
        const found = await tasksFound();
        if (found.size > 0) return adoptFound(found, 'sbatch did not answer but the job array was submitted');
        await Promise.all(batch.map((ready) => jobs.discard(ready.job.id)));
        return batch.map(() => ({ status: 'rejected', reason: error }));
      }
      // Refused as an array: each job alone, so that each gets its own answer (a refusal of its own, or a job).
      logger().warn({ err: error, array: name, jobs: batch.length }, 'sbatch refused the job array; submitting its jobs one by one');
      return Promise.allSettled(
        batch.map((ready) => {
          ready.pending.record.array = null;
          return jobs.save(ready.pending).then(() => submitAlone(ready));
        }),
      );
    }
    const arrayId = parseSbatchAnswer(output);
    if (arrayId === null) {
      const found = await tasksFound();
      if (found.size > 0) return adoptFound(found, 'sbatch answered something Switchyard does not understand, but the job array is in the queue');
      await Promise.all(batch.map((ready) => jobs.discard(ready.job.id)));
      const error = new ProviderUnavailableError(
        context().providerId,
        `sbatch answered "${firstLines(output)}", which is not a job id, and no job array ${name} is in the queue`,
      );
      return batch.map(() => ({ status: 'rejected', reason: error }));
    }
    return Promise.allSettled(
      batch.map((ready, task) => accepted(ready, arrayTaskId(arrayId, task), arrayOf(task), ` (task ${task} of job array ${arrayId})`)),
    );
  };

  // Jobs that wait for a submit slot, or for the creates still being written beside them, go together as one array.
  const batcher = createSubmitBatcher<ReadyJob, SlurmJob>({
    slots: options.submitConcurrency ?? 16,
    maxBatch: (options.arrays ?? true) ? MAX_ARRAY_TASKS : 1,
    gatherMs: options.submitGatherMs ?? 50,
    key: (ready) => arrayKey(ready.args),
    submit: async (batch) => (batch.length === 1 ? [await settle(submitAlone(batch[0]!))] : submitArray(batch)),
  });

  const submit = async (job: CreateJob): Promise<SlurmJob> => {
    // Announced before its files are written: the jobs of a bulk create that are ready wait for the others (gatherMs at most).
    const prepared = batcher.prepare();
    let ready: ReadyJob | null = null;
    try {
      const checked = validate(job);
      await refuseWorkDir(job.specification.workingDir);
      // A record without a Slurm id: an earlier sbatch of this job may have gone through. Ask Slurm before submitting again.
      const existing = await jobs.readSaved(job.id);
      if (existing !== null) {
        const array = existing.record?.array ?? null;
        const found = array ? taskOfArray(await queue.findArray(array.name), array) : await queue.findByName(job.id);
        // A record that does not read: the job is adopted from Slurm's view alone.
        if (found) return adopt(job.id, found, existing.record ?? undefined);
      }
      const plan: SbatchPlan = { ...checked, account: accounts ? accounts.accountFor(job.owner.createdBy) : null };
      // The record exists before sbatch runs: a crash from here on leaves something to find the job by.
      const pending = live({ ...submittedRecord(job, null, plan), status: 'Submitting to Slurm' });
      // Side by side: neither needs the other, and sbatch needs both.
      const [{ script, madeNow }] = await Promise.all([writeScript(job, plan.dir, plan.account), jobs.save(pending)]);
      ready = { job, plan, script, args: sbatchArgs(job, plan, script), pending, newDirectory: madeNow };
    } finally {
      if (ready === null) prepared.abandon();
    }
    return prepared.submit(ready);
  };

  /**
   * Wait (a few seconds at most) until srun has launched every rank: each rank's output file is
   * there. A job is RUNNING from its batch script's start, before its step; suspending it while
   * srun launches the step holds slurmd for a minute in Slurm 22.05 ("Suspend time for job_id …
   * was usec=64362885"), and every job on the node with it.
   */
  const stepLaunched = async (job: SlurmJob): Promise<void> => {
    const ranks = Array.from({ length: job.record.replicas }, (_, rank) => `rank-${rank}.out`);
    const deadline = performance.now() + STEP_LAUNCH_WAIT_MS;
    while (performance.now() < deadline) {
      const names = new Set(await readdir(job.dir).catch(() => [] as string[]));
      if (ranks.every((name) => names.has(name))) return;
      await sleep(25);
    }
    logger().warn({ jobId: job.record.id, slurmJobId: job.record.slurmJobId }, 'suspending a job whose ranks have not all started');
  };

  /** Run an operation on a job with polls holding off it, so that its change is reported before what the poll sees. */
  const operate = async <T>(job: SlurmJob, fn: () => Promise<T>): Promise<T> => {
    job.busy += 1;
    try {
      return await fn();
    } finally {
      job.busy -= 1;
    }
  };

  /** Root submits for unprivileged accounts; anyone else can only submit as itself, and says so. */
  const setUpAccounts = async (driverContext: DriverContext): Promise<AccountMap | null> => {
    if (process.getuid?.() !== 0) {
      driverContext.logger.warn(
        { uid: process.getuid?.() },
        'the Slurm provider is not root: it cannot submit jobs for other accounts (sbatch --uid), so they run as the provider’s own account',
      );
      return null;
    }
    const map = await createAccountMap({ defaultAccount: options.jobAccount, users: options.userAccounts });
    driverContext.logger.info(
      { defaultAccount: describeAccount(map.defaultAccount), mappedUsers: Object.keys(options.userAccounts ?? {}).length },
      'Slurm jobs are submitted for unprivileged accounts',
    );
    return map;
  };

  /** Every job of ours again, from the records and from Slurm's queue; records of submissions Slurm never took go. */
  const recover = async (driverContext: DriverContext) => {
    const records = await jobs.readAll();
    recordedUids.clear();
    for (const record of records) if (record.account) recordedUids.add(record.account.uid);
    let lines: SqueueLine[];
    try {
      lines = await queue.list();
    } catch (error) {
      ctx = null;
      throw new ProviderUnavailableError(driverContext.providerId, `the Slurm provider cannot list its jobs: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const rows = lines.map((l) => l.job).filter((row): row is SqueueJob => row !== null);
    for (const record of records) {
      if (record.slurmJobId !== null) {
        jobs.set(live(record));
        continue;
      }
      // Crashed between writing the record and hearing sbatch's answer.
      const found = record.array ? taskOfArray(rows, record.array) : newestNamed(rows, record.id);
      if (found) adopt(record.id, found, record);
      else await jobs.discard(record.id);
    }
    // Jobs of ours that have no record at all (a lost record file).
    for (const row of rows) {
      const id = row.name.slice(SLURM_JOB_NAME_PREFIX.length);
      if (!queue.ours(row) || jobs.get(id) || !idSchema.safeParse(id).success) continue;
      driverContext.logger.info({ jobId: id, slurmJobId: row.slurmJobId }, 'found a job of this provider without a record');
      adopt(id, row);
    }
  };

  /** Start: the work directory, the accounts, the products, every job of ours again, then the poller. */
  const open = async (driverContext: DriverContext) => {
    ctx = driverContext;
    abort = newAbort();
    jobs.clear();
    queue.reset();
    await mkdir(options.workDir, { recursive: true });
    // squeue prints resolved paths: compare with the real one.
    workDir = await realpath(options.workDir);
    jobsDir = join(workDir, 'jobs');
    await mkdir(jobsDir, { recursive: true });
    try {
      accounts = await setUpAccounts(driverContext);
    } catch (error) {
      ctx = null;
      throw error;
    }
    if (accounts) {
      // Job accounts pass through to their own directory but cannot list the others (nor the records).
      await chmod(workDir, 0o711);
      await chmod(jobsDir, 0o711);
    }
    try {
      const cluster = await readCluster();
      products = buildProducts(partitionConfig, cluster.partitions, cluster.nodes, { suspension });
    } catch (error) {
      ctx = null;
      if (error instanceof SlurmCommandError) {
        throw new ProviderUnavailableError(
          driverContext.providerId,
          `the Slurm provider cannot reach its cluster (SLURM_CONF=${cli.env.SLURM_CONF ?? 'unset'}): ${error.message}`,
          { cause: error },
        );
      }
      throw error;
    }
    await recover(driverContext);
    driverContext.logger.info({ jobs: jobs.size, products: products.map((p) => p.product.id) }, 'Slurm driver started');
    await poller.start();
  };

  /**
   * A connection to the port a job's app listens on, at the address of the allocation's first node
   * (its NodeAddr, as Slurm reaches it), like the shell, which lands there too.
   */
  const openWeb = async (request: DriverSessionRequest): Promise<DriverSession> => {
    const { port } = request;
    if (port === undefined) throw new InvalidInputError('A WEB session needs the port its app listens on');
    const { record } = await jobs.lookup(request.jobId);
    requireState(record, 'RUNNING', 'open a web session in');
    if (request.rank >= record.replicas) throw new InvalidInputError(`Job ${record.id} has ranks 0 to ${record.replicas - 1}, not ${request.rank}`);
    // A job taken as RUNNING from its output file has no node list until the poller's next squeue: ask for it.
    const asked =
      !record.slurm.nodeList && record.slurmJobId ? (await cli.run('squeue', ['-h', '-j', record.slurmJobId, '-o', '%N'])).stdout.trim() : '';
    const nodeList = record.slurm.nodeList || asked;
    if (!nodeList) throw new InvalidStateError(record.id, `Job ${record.id} has no node yet`);
    const [node] = (await cli.run('scontrol', ['show', 'hostnames', nodeList])).stdout.split('\n').filter(Boolean);
    const shown = await cli.run('scontrol', ['show', 'node', '--oneliner', must(node, `a node of ${nodeList}`)]);
    const host = / NodeAddr=(\S+)/.exec(` ${shown.stdout}`)?.[1] ?? node!;
    const what = `port ${port} of rank ${request.rank} of job ${record.id} (node ${node}, ${host})`;
    return (await connectTcpSession({ host, port }, { jobId: record.id, description: what })).session;
  };

  return {
    // The runner paces sbatch (submitConcurrency at once): the creates around them run more at once,
    // so that a job has its records and script ready when a turn frees, and a bulk create's jobs
    // reach the batcher within one gather window (an array's worth of them).
    createConcurrency: MAX_ARRAY_TASKS,

    async start(driverContext) {
      try {
        await open(driverContext);
      } catch (error) {
        await runner.close();
        throw error;
      }
    },

    async manifest(): Promise<Manifest> {
      return { products: products.map((p) => p.product) };
    },

    async utilization(): Promise<Utilization> {
      const [{ nodes }, queued] = await Promise.all([readCluster(), run('squeue', ['-h', '-r', '-t', 'PD,R,S,CG,CF', '-O', 'State:|,Partition:|'])]);
      return slurmUtilization(products, nodes, queued.stdout, now());
    },

    create: (job) =>
      jobs.create(job.id, async () => {
        submitting += 1;
        try {
          return await submit(job);
        } finally {
          submitting -= 1;
        }
      }),

    async terminate(jobId, reason) {
      const job = await jobs.lookup(jobId);
      const { record } = job;
      requireNotEnded(record);
      if (record.state === 'CANCELING') return;
      // Known before scancel runs, so that the CANCELLED Slurm reports is ours.
      await operate(job, async () => {
        record.ending = 'TERMINATE';
        record.endingReason = reason ?? null;
        await jobs.save(job);
        try {
          await run('scancel', [record.slurmJobId!]);
        } catch (error) {
          record.ending = null;
          record.endingReason = null;
          void jobs.save(job);
          throw operationError(error, jobId, 'terminate');
        }
        if (!isFinalState(record.state)) change(job, { state: 'CANCELING', status: `${STATUS.terminating}: Slurm is cancelling the job` });
      });
      // The end is reported by the next poll.
      void poller.poll();
    },

    async extend(jobId, addMs) {
      const job = await jobs.lookup(jobId);
      const { record } = job;
      requireActive(record, 'extend');
      if (record.slurm.timeLimitSeconds !== null && !Number.isFinite(record.slurm.timeLimitSeconds)) {
        throw new InvalidStateError(jobId, `Job ${jobId} has no time limit in Slurm; there is nothing to extend`);
      }
      const minutes = Math.ceil(addMs / 60_000);
      return operate(job, async () => {
        try {
          await run('scontrol', ['update', `JobId=${record.slurmJobId}`, `TimeLimit=+${minutes}`]);
        } catch (error) {
          throw operationError(error, jobId, 'extend');
        }
        // Read back what Slurm made of it.
        const row = await queue.row(record.slurmJobId!);
        if (row) record.slurm = viewOf(row);
        let expiresAt: number | null;
        if (row?.state === 'RUNNING') expiresAt = deadlineOf(row);
        else if (record.expiresAt !== null) expiresAt = record.expiresAt + minutes * 60_000;
        else expiresAt = null;
        record.expiresAt = expiresAt;
        await jobs.save(job);
        return { expiresAt };
      });
    },

    async suspend(jobId) {
      const job = await jobs.lookup(jobId);
      requireState(job.record, 'RUNNING', 'suspend');
      await operate(job, async () => {
        await stepLaunched(job);
        try {
          // An array task by `<array>_<task>`: its own numeric id may be the array's (the last task to start keeps it),
          // and scontrol suspend of that id takes every task of the array.
          await run('scontrol', ['suspend', job.record.slurmJobId!]);
        } catch (error) {
          throw operationError(error, jobId, 'suspend');
        }
        job.record.slurm.state = 'SUSPENDED';
        if (job.record.state === 'RUNNING') change(job, { state: 'SUSPENDED', status: STATUS.suspended });
      });
    },

    async unsuspend(jobId) {
      const job = await jobs.lookup(jobId);
      requireState(job.record, 'SUSPENDED', 'resume');
      await operate(job, async () => {
        try {
          // `<array>_<task>` for an array task, as for suspend.
          await run('scontrol', ['resume', job.record.slurmJobId!]);
        } catch (error) {
          throw operationError(error, jobId, 'resume');
        }
        // Slurm moves the end time by the time the job was suspended.
        const row = await queue.row(job.record.slurmJobId!);
        if (row) job.record.slurm = viewOf(row);
        const expiresAt = row?.state === 'RUNNING' ? deadlineOf(row) : null;
        if (job.record.state === 'SUSPENDED') change(job, { state: 'RUNNING', status: STATUS.resumed, ...(expiresAt !== null ? { expiresAt } : {}) });
      });
    },

    async observe(jobId) {
      await jobs.createSettled(jobId);
      const known = jobs.get(jobId);
      if (known && isFinalState(known.record.state)) return jobs.observe(jobId);
      await poller.refresh();
      if (!jobs.get(jobId)) {
        // Not in our records, but Slurm runs it under our name (a lost record, another replica's submission).
        const row = poller.byName(`${SLURM_JOB_NAME_PREFIX}${jobId}`);
        if (row && idSchema.safeParse(jobId).success) {
          adopt(jobId, row);
          await poller.poll(true);
        }
      }
      return jobs.observe(jobId);
    },

    async stop() {
      // A submission under way finishes first, so its job is recorded.
      await jobs.flush();
      const polled = poller.stop();
      abort.abort();
      await polled;
      await jobs.flush();
      await runner.close();
      jobs.clear();
      ctx = null;
    },

    async openSession(request) {
      if (request.type === 'WEB') return openWeb(request);
      if (request.type !== 'SHELL') throw new UnsupportedError(`The Slurm provider opens SHELL and WEB sessions only, not ${request.type}`);
      const job = await jobs.lookup(request.jobId);
      const { record } = job;
      requireState(record, 'RUNNING', 'open a shell in');
      if (request.rank >= record.replicas) {
        throw new InvalidInputError(`Job ${record.id} has ranks 0 to ${record.replicas - 1}, not ${request.rank}`);
      }
      // An adopted job's record does not know what its script exports: its directory and id at least.
      const launch = record.launch ?? { cwd: jobDir(record.id), env: { SWITCHYARD_JOB_ID: record.id, SWITCHYARD_REPLICAS: String(record.replicas) } };
      logger().info({ jobId: record.id, slurmJobId: record.slurmJobId, rank: request.rank }, 'shell step opened in the job');
      return spawnPtySession({
        file: 'srun',
        // srun takes a numeric id only: an array task's own.
        args: shellStepArgs(must(numericJobId(record) ?? undefined, 'the Slurm id of a running job'), launch, request.rank, record.account),
        // srun's own environment: where Slurm is, and nothing else of the provider's.
        env: { PATH: cli.env.PATH ?? SHELL_PATH, ...(cli.env.SLURM_CONF ? { SLURM_CONF: cli.env.SLURM_CONF } : {}) },
        cols: request.cols,
        rows: request.rows,
      });
    },

    subschema: () =>
      slurmSubschema({
        context: () => ctx,
        details: async (id) => {
          if (!jobs.get(id)) return null;
          // Fresh enough: at most one poll interval old.
          await poller.refresh();
          const job = jobs.get(id);
          return job && job.record.slurmJobId !== null ? slurmJobDetails(job.record) : null;
        },
        partitions: async () => {
          const { partitions, nodes } = await readCluster();
          return partitionsView(partitions, nodes);
        },
      }),
  };
}
