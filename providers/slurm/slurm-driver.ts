/**
 * The Slurm provider: runs a job as a Slurm batch job on a real cluster.
 *
 * - create: a batch script that launches the job's command with `srun`, one
 *   task per replica, each rank writing its own output files; submitted with
 *   `sbatch --parsable`, named `sy-<job id>` with the job id as its comment.
 * - state: one `squeue` call per poll interval for all of the provider's jobs;
 *   for the ones that ended, `sacct` (accounting storage or the jobcomp file)
 *   and `scontrol show job` give the exit code. Slurm's states map to the
 *   contract's (see `finalChange`).
 * - output: the rank files are tailed into log lines on every poll.
 * - terminate/suspend/resume/extend: scancel, scontrol suspend/resume,
 *   scontrol update TimeLimit=+N.
 * - records: one JSON file per job in the work directory, written before
 *   sbatch runs, so a restarted provider finds every job again; jobs the
 *   records miss are found by name in squeue.
 * - accounts: a provider running as root submits each job for an
 *   unprivileged account (`sbatch --uid/--gid`): `nobody` unless the
 *   Switchyard user is mapped to an account of its own. The job's directory is
 *   that account's alone; scancel, scontrol and squeue still run as the
 *   provider.
 */
import { setMaxListeners } from 'node:events';
import { constants as fsConstants } from 'node:fs';
import { chmod, chown, mkdir, open, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { isAbsolute, join, resolve, sep } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { z } from 'zod';
import {
  idSchema,
  computeSupport,
  jobStateSchema,
  priceUnitSchema,
  type ComputeSupport,
  type Manifest,
  type Product,
  type ProductPriceUnit,
  type Utilization,
} from '../../shared/domain.js';
import { InvalidInputError, InvalidStateError, NotFoundError, SwitchyardError, UnsupportedError } from '../../shared/errors.js';
import { isFinalState } from '../../shared/job-state-machine.js';
import type { CreateJob, JobObservation } from '../../shared/protocol.js';
import { createSingleFlight } from '../../shared/single-flight.js';
import { createJobRecordFiles } from '../sdk/job-records.js';
import type { Driver, DriverContext, DriverJobChange } from '../sdk/driver.js';
import { createAccountMap, describeAccount, type AccountMap, type UnixAccount } from '../sdk/unix-accounts.js';
import {
  SACCT_FIELDS,
  SINFO_NODE_FORMAT,
  SQUEUE_FORMAT,
  SlurmCommandError,
  createSlurmCli,
  firstLines,
  parseKeyValueLine,
  parsePartitions,
  parseSacct,
  parseSinfoNodes,
  parseSlurmExitCode,
  parseSqueue,
  shellQuote,
  switchyardExitCode,
  type SacctJob,
  type SinfoNode,
  type SlurmCli,
  type SlurmPartitionInfo,
  type SqueueJob,
  type SqueueLine,
} from './slurm-cli.js';

/** How one Slurm partition is sold: one product per entry. */
export const slurmPartitionProductSchema = z
  .object({
    /** The Slurm partition jobs of this product go to. */
    partition: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'a Slurm partition name'),
    /** @default `slurm-<partition>` */
    productId: idSchema.optional(),
    /** @default 'slurm-cpu' */
    category: idSchema.optional(),
    name: z.string().min(1).optional(),
    description: z.string().optional(),
    /** CPUs per replica (`--cpus-per-task`). @default 1 */
    cpu: z.number().int().positive().optional(),
    /** Memory per replica. @default the partition's memory per CPU × cpu, rounded down to 128 MiB */
    memoryInGigs: z.number().nonnegative().optional(),
    /** @default cpu (credits per CPU-hour: 1) */
    pricePerUnit: z.number().int().nonnegative().optional(),
    /** @default 'CREDITS_PER_HOUR' */
    unitOfPrice: priceUnitSchema.optional(),
    freeToUse: z.boolean().optional(),
    priority: z.number().int().optional(),
  })
  .strict();
export type SlurmPartitionProduct = z.infer<typeof slurmPartitionProductSchema>;

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

/** Job names this provider gives its jobs: `sy-<switchyard job id>`. */
export const SLURM_JOB_NAME_PREFIX = 'sy-';

const STATUS_TERMINATED = 'Your job has been terminated';
const STATUS_EXPIRED = 'The job reached the end of its time allocation';
const STATUS_CANCELLED_OUTSIDE = 'Cancelled outside Switchyard';
/** Polls a job may be missing from squeue and sacct before it is given up. */
const MISSING_POLLS = 5;
/** Largest chunk read from one output file per poll. */
const MAX_READ_BYTES = 4 * 1024 * 1024;
/** A line longer than this is passed on in pieces. */
const MAX_LINE_CHARS = 16 * 1024;
/** Polls that fail in a row before the jobs get a status line about it. */
const OUTAGE_POLLS = 3;

/** Slurm states that end a job. */
const FINAL_SLURM_STATES = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'DEADLINE', 'NODE_FAIL', 'BOOT_FAIL', 'OUT_OF_MEMORY', 'PREEMPTED']);
/** Slurm states in which the job waits. */
const WAITING_SLURM_STATES = new Set(['PENDING', 'CONFIGURING', 'REQUEUED', 'REQUEUE_HOLD', 'REQUEUE_FED', 'RESV_DEL_HOLD', 'SPECIAL_EXIT']);
/** Slurm states that change nothing for us (the job keeps running or ending). */
const PASSING_SLURM_STATES = new Set(['COMPLETING', 'RESIZING', 'SIGNALING', 'STAGE_OUT', 'POWER_UP_NODE', 'UPDATE_DB']);

/** What Slurm's most common pending reasons mean, for the status line. */
const PENDING_REASONS: Record<string, string> = {
  Resources: 'the resources it needs are in use',
  Priority: 'jobs with a higher priority are ahead of it',
  Dependency: 'it waits for the jobs it depends on',
  BeginTime: 'its start time has not come',
  JobHeldUser: 'it is held by its user',
  JobHeldAdmin: 'it is held by an administrator',
  PartitionDown: 'its partition is down',
  PartitionInactive: 'its partition is inactive',
  PartitionTimeLimit: 'its time limit exceeds the partition’s',
  ReqNodeNotAvail: 'the nodes it needs are not available',
  NodeDown: 'a node it needs is down',
  Reservation: 'it waits for its reservation',
  QOSMaxCpuPerUserLimit: 'its user has reached the QOS CPU limit',
  AssocGrpCpuLimit: 'its account has reached its CPU limit',
};

const FAILURE_STATES: Record<string, string> = {
  NODE_FAIL: 'a node it ran on failed',
  BOOT_FAIL: 'a node failed to boot',
  OUT_OF_MEMORY: 'the job ran out of memory',
  PREEMPTED: 'the job was preempted',
  DEADLINE: 'the job reached its deadline',
};

const slurmViewSchema = z.object({
  state: z.string().nullable(),
  reason: z.string().nullable(),
  partition: z.string(),
  nodeList: z.string().nullable(),
  elapsedSeconds: z.number().nullable(),
  exitCode: z.string().nullable(),
  timeLimitSeconds: z.number().nullable(),
});

const jobRecordSchema = z.object({
  v: z.literal(1),
  id: idSchema,
  /** Null until sbatch answered. */
  slurmJobId: z.string().nullable(),
  state: jobStateSchema,
  status: z.string().nullable(),
  exitCode: z.number().int().nullable(),
  startedAt: z.number().nullable(),
  expiresAt: z.number().nullable(),
  productId: z.string(),
  replicas: z.number().int().positive(),
  /** Seconds in one price unit of the product. */
  unitSeconds: z.number().int().positive(),
  usageUnits: z.number().int().nonnegative(),
  /** Set before scancel: a CANCELLED job then ends SUCCESS, not FAILURE. */
  ending: z.enum(['TERMINATE']).nullable(),
  endingReason: z.string().nullable(),
  /** Bytes of each output file already passed on. */
  offsets: z.record(z.string(), z.number().int().nonnegative()),
  slurm: slurmViewSchema,
  /** The account Slurm runs the job as; null for jobs submitted as the provider itself. */
  account: z.object({ uid: z.number().int(), gid: z.number().int(), name: z.string().nullable() }).nullable().default(null),
});
type JobRecord = z.infer<typeof jobRecordSchema>;

interface OutputFile {
  decoder: StringDecoder;
  partial: string;
}

interface LiveJob {
  record: JobRecord;
  dir: string;
  files: Map<string, OutputFile>;
  /** When this driver start learned the job (performance.now()); a poll that began earlier cannot have seen it. */
  knownSince: number;
  missingPolls: number;
  /** The last problem reported about Slurm's answer, so it is reported once. */
  problem: string | null;
  /** Set when the job got a status line about an outage, so it gets one per outage. */
  toldOutage: boolean;
  /** Operations under way (scancel, suspend, ...): polls leave the job alone until they have reported. */
  busy: number;
}

interface PartitionProduct {
  product: Product;
  partition: SlurmPartitionInfo;
  cpusPerTask: number;
  memoryMb: number;
}

const UNIT_SECONDS: Record<ProductPriceUnit, number> = {
  CREDITS_PER_MINUTE: 60,
  CREDITS_PER_HOUR: 3600,
  CREDITS_PER_DAY: 86_400,
};

/** A path inside an sbatch/srun filename pattern: "%" must be doubled. */
function slurmPath(path: string): string {
  return path.replace(/%/g, '%%');
}

function formatLimit(seconds: number | null): string | null {
  if (seconds === null) return null;
  if (!Number.isFinite(seconds)) return 'UNLIMITED';
  const days = Math.floor(seconds / 86_400);
  const rest = seconds % 86_400;
  const hh = String(Math.floor(rest / 3600)).padStart(2, '0');
  const mm = String(Math.floor((rest % 3600) / 60)).padStart(2, '0');
  const ss = String(rest % 60).padStart(2, '0');
  return `${days > 0 ? `${days}-` : ''}${hh}:${mm}:${ss}`;
}

function pendingStatus(reason: string): string {
  const meaning = PENDING_REASONS[reason];
  return `Waiting in the Slurm queue (${reason}${meaning ? `: ${meaning}` : ''})`;
}

/** Usage in started price units times replicas; nothing for a job that never started. */
function usageUnitsOf(record: JobRecord, elapsedSeconds: number | null, started: boolean): number {
  if (!started) return record.usageUnits;
  const units = Math.max(1, Math.ceil((elapsedSeconds ?? 0) / record.unitSeconds)) * record.replicas;
  return Math.max(units, record.usageUnits);
}

/** What a failed Slurm command means for the caller of an operation. */
function operationError(error: unknown, jobId: string, action: string): unknown {
  if (!(error instanceof SlurmCommandError) || error.timedOut || error.exitCode === null) return error;
  const text = `${error.stderr}`;
  const why = firstLines(text) || error.detail;
  if (/already completing or completed|has already finished|Job is no longer pending|Invalid job id|is not suspended|is not running|Job is current|not suspendable/i.test(text)) {
    return new InvalidStateError(jobId, `Cannot ${action} job ${jobId}: Slurm says "${why}"`);
  }
  if (/Access\/permission denied|not authorized|Permission denied/i.test(text)) {
    return new UnsupportedError(`Slurm does not let the provider ${action} job ${jobId} ("${why}"); it needs an operator account`);
  }
  return error;
}

/** Create the Slurm provider's driver. Options are checked now; partitions when it starts. */
export function createSlurmDriver(options: SlurmDriverOptions): Driver {
  const configured = options.partitions === undefined ? undefined : z.array(slurmPartitionProductSchema).min(1).safeParse(options.partitions);
  if (configured && !configured.success) {
    throw new InvalidInputError(
      `Invalid Slurm partition configuration: ${configured.error.issues.map((i) => `${i.path.join('.') || '(partitions)'}: ${i.message}`).join('; ')}`,
    );
  }
  const partitionConfig = configured?.data;
  if (partitionConfig) {
    const ids = partitionConfig.map((p) => p.productId ?? `slurm-${p.partition}`);
    const duplicate = ids.find((id, k) => ids.indexOf(id) !== k);
    if (duplicate) throw new InvalidInputError(`Invalid Slurm partition configuration: product id ${duplicate} is used twice`);
  }
  if (!isAbsolute(options.workDir)) throw new InvalidInputError(`The Slurm work directory must be an absolute path: ${options.workDir}`);
  const pollIntervalMs = options.pollIntervalMs ?? 1_000;
  const fallbackTimeMinutes = options.fallbackTimeMinutes ?? 60;
  const suspension = options.suspension ?? true;
  const cli: SlurmCli = createSlurmCli({ slurmConf: options.slurmConf, env: options.env, timeoutMs: options.commandTimeoutMs ?? 10_000 });

  let ctx: DriverContext | null = null;
  /** Set at start: who jobs are submitted for; null when the provider is not root and submits them as itself. */
  let accounts: AccountMap | null = null;
  /** Accounts named by records read at start: squeue must list their jobs too, whatever the map says now. */
  const recordedUids = new Set<number>();
  let workDir = options.workDir;
  let jobsDir = join(workDir, 'jobs');
  let products: PartitionProduct[] = [];
  const jobs = new Map<string, LiveJob>();
  const creating = createSingleFlight<{ providerGeneratedId: string | null }>();
  let pollTimer: NodeJS.Timeout | null = null;
  let polling: Promise<void> | null = null;
  let lastSnapshot: { at: number; byName: Map<string, SqueueJob> } | null = null;
  let failedPolls = 0;
  /** One signal stops every Slurm command at stop(); each command in flight listens to it. */
  const newAbort = () => {
    const controller = new AbortController();
    // Many commands run at once (bulk submissions): more listeners than Node's default warning limit.
    setMaxListeners(256, controller.signal);
    return controller;
  };
  let abort = newAbort();
  /** Which source of finished jobs works here: accounting storage, the jobcomp file, or neither. */
  let sacctModes: Array<'accounting' | 'jobcomp'> = ['accounting', 'jobcomp'];

  const context = (): DriverContext => {
    if (!ctx) throw new Error('the Slurm driver is not started');
    return ctx;
  };
  const now = () => context().clock.now();
  const logger = () => context().logger;
  const run = (command: string, args: readonly string[]) => cli.run(command, args, { signal: abort.signal });

  // --- records --------------------------------------------------------------

  const recordPath = (id: string) => join(jobsDir, `${id}.json`);
  const jobDir = (id: string) => join(jobsDir, id);

  const records = createJobRecordFiles({ dir: () => jobsDir, schema: jobRecordSchema, logger: () => ctx?.logger });
  const persist = (record: JobRecord): Promise<void> => records.save(record);

  const change = (job: LiveJob, update: DriverJobChange) => {
    const { record } = job;
    if (update.state) record.state = update.state;
    if (update.status !== undefined) record.status = update.status;
    if (update.exitCode !== undefined) record.exitCode = update.exitCode;
    if (update.startedAt !== undefined) record.startedAt = update.startedAt;
    if (update.expiresAt !== undefined) record.expiresAt = update.expiresAt;
    if (update.usageUnits !== undefined) record.usageUnits = update.usageUnits;
    void persist(record);
    context().emit(record.id, update);
  };

  const live = (record: JobRecord): LiveJob => ({
    record,
    dir: jobDir(record.id),
    files: new Map(),
    knownSince: performance.now(),
    missingPolls: 0,
    problem: null,
    toldOutage: false,
    busy: 0,
  });

  const productOf = (productId: string) => products.find((p) => p.product.id === productId);

  // --- Slurm's view -----------------------------------------------------------

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

  const squeueOurs = async (extra: readonly string[] = []): Promise<SqueueLine[]> =>
    parseSqueue((await run('squeue', [...userFilter(), '-h', '-t', 'all', ...extra, '-O', SQUEUE_FORMAT])).stdout);

  /** Is this squeue job one this provider submitted (its script lies in our work directory)? */
  const ours = (row: SqueueJob) => row.name.startsWith(SLURM_JOB_NAME_PREFIX) && row.command !== null && row.command.startsWith(`${jobsDir}/`);

  /** Finished jobs as Slurm's accounting (slurmdbd) or jobcomp file (`sacct -c`) has them. */
  const sacctRecords = async (slurmIds: string[]): Promise<Map<string, SacctJob>> => {
    const found = new Map<string, SacctJob>();
    if (slurmIds.length === 0) return found;
    for (const mode of [...sacctModes]) {
      const args = ['-P', '-n', ...(mode === 'jobcomp' ? ['-c'] : ['-X']), '-j', slurmIds.join(','), '-o', SACCT_FIELDS.join(',')];
      try {
        const rows = parseSacct((await run('sacct', args)).stdout);
        for (const [id, row] of rows) if (!found.has(id)) found.set(id, row);
        if (found.size === slurmIds.length) break;
      } catch (error) {
        const missing = mode === 'accounting' ? /accounting storage is disabled|not configured with slurmdbd/i : /jobcomp|not configured|No such file/i;
        if (error instanceof SlurmCommandError && !error.timedOut && error.exitCode !== null && missing.test(`${error.stderr} ${error.detail}`)) {
          // Not set up on this cluster (e.g. "accounting storage is disabled"): stop asking.
          sacctModes = sacctModes.filter((m) => m !== mode);
          logger().info({ mode, detail: error.detail }, 'sacct source not available on this cluster; not asked again');
        } else {
          logger().warn({ err: error, mode }, 'sacct failed');
        }
      }
    }
    return found;
  };

  /** `scontrol show job -o <id>`: the exit code as Slurm reports it, for a job sacct does not know. */
  const scontrolJob = async (slurmId: string): Promise<Record<string, string> | null> => {
    try {
      const { stdout } = await run('scontrol', ['show', 'job', '-o', slurmId]);
      const line = stdout.split('\n').find((l) => l.startsWith('JobId='));
      return line ? parseKeyValueLine(line) : null;
    } catch (error) {
      logger().debug({ err: error, slurmId }, 'scontrol show job failed');
      return null;
    }
  };

  // --- output -----------------------------------------------------------------

  const OUTPUT_FILE = /^(?:rank-(\d+)|batch)\.(out|err)$/;

  const sendLine = (job: LiveJob, name: string, text: string) => {
    const match = OUTPUT_FILE.exec(name);
    if (!match) return;
    const rank = match[1] === undefined ? 0 : Number(match[1]);
    context().log(job.record.id, { rank, [match[2] === 'out' ? 'stdout' : 'stderr']: text, timestamp: now() });
  };

  /** Pass on what the job's output files gained since the last look; `final` also sends a last partial line. */
  const tail = async (job: LiveJob, final: boolean): Promise<boolean> => {
    let names: string[];
    try {
      names = (await readdir(job.dir)).filter((name) => OUTPUT_FILE.test(name)).sort();
    } catch {
      return false;
    }
    let moved = false;
    for (const name of names) {
      const offset = job.record.offsets[name] ?? 0;
      let file = job.files.get(name);
      if (!file) {
        file = { decoder: new StringDecoder('utf8'), partial: '' };
        job.files.set(name, file);
      }
      try {
        // The directory is the job's account's: what is in it may be a symlink to a file only root may read, or a FIFO.
        const handle = await open(join(job.dir, name), fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
        try {
          const info = await handle.stat();
          if (!info.isFile()) throw new Error(`${name} is not a regular file`);
          let { size } = info;
          if (size < offset) {
            // Truncated: a requeued job starts its output files afresh.
            job.record.offsets[name] = 0;
            file.partial = '';
            size = (await handle.stat()).size;
          }
          const from = job.record.offsets[name] ?? 0;
          if (size > from) {
            const length = Math.min(size - from, MAX_READ_BYTES);
            const buffer = Buffer.alloc(length);
            const { bytesRead } = await handle.read(buffer, 0, length, from);
            job.record.offsets[name] = from + bytesRead;
            moved = true;
            const lines = (file.partial + file.decoder.write(buffer.subarray(0, bytesRead))).split('\n');
            file.partial = lines.pop() ?? '';
            for (const line of lines) sendLine(job, name, line);
            while (file.partial.length > MAX_LINE_CHARS) {
              sendLine(job, name, file.partial.slice(0, MAX_LINE_CHARS));
              file.partial = file.partial.slice(MAX_LINE_CHARS);
            }
          }
        } finally {
          await handle.close();
        }
      } catch (error) {
        logger().warn({ err: error, jobId: job.record.id, file: name }, 'reading job output failed');
      }
      if (final) {
        const rest = file.partial + file.decoder.end();
        file.partial = '';
        if (rest.length > 0) sendLine(job, name, rest);
      }
    }
    return moved;
  };

  // --- state --------------------------------------------------------------------

  const updateView = (record: JobRecord, row: SqueueJob) => {
    record.slurm = {
      state: row.state,
      reason: row.reason === 'None' || row.reason === '' ? null : row.reason,
      partition: row.partition,
      nodeList: row.nodeList,
      elapsedSeconds: row.elapsedSeconds,
      exitCode: FINAL_SLURM_STATES.has(row.state) ? row.exitCode : null,
      timeLimitSeconds: row.timeLimitSeconds,
    };
  };

  /** When the job must end now: Slurm's end time, or start + limit. */
  const deadlineOf = (row: SqueueJob): number | null => {
    if (row.endTime !== null) return row.endTime;
    if (row.startTime !== null && row.timeLimitSeconds !== null && Number.isFinite(row.timeLimitSeconds)) return row.startTime + row.timeLimitSeconds * 1000;
    return null;
  };

  const noteProblem = (job: LiveJob, problem: string, raw: string) => {
    if (job.problem === problem) return;
    job.problem = problem;
    logger().warn({ jobId: job.record.id, slurmJobId: job.record.slurmJobId, problem, raw }, 'did not understand what Slurm said about a job');
    change(job, { status: `Switchyard could not read Slurm's answer about this job (${problem}); it keeps its last known state` });
  };

  /** Apply a live squeue row; true when Slurm says the job has ended. */
  const applyRow = (job: LiveJob, row: SqueueJob): boolean => {
    const { record } = job;
    const previousReason = record.slurm.reason;
    updateView(record, row);
    job.missingPolls = 0;
    job.toldOutage = false;
    if (FINAL_SLURM_STATES.has(row.state)) return true;
    if (isFinalState(record.state)) return false;
    const started = row.startTime !== null && row.startTime <= now() + 1_000;

    if (WAITING_SLURM_STATES.has(row.state)) {
      job.problem = null;
      const reason = record.slurm.reason;
      if (record.state !== 'IN_QUEUE' && record.state !== 'CANCELING') {
        // Requeued or held after it ran.
        change(job, { state: 'IN_QUEUE', status: reason ? pendingStatus(reason) : `Slurm put the job back in its queue (${row.state})` });
      } else if (record.state === 'IN_QUEUE' && reason !== null && reason !== previousReason) {
        change(job, { status: pendingStatus(reason) });
      }
      return false;
    }
    if (row.state === 'RUNNING' || PASSING_SLURM_STATES.has(row.state)) {
      job.problem = null;
      const usageUnits = usageUnitsOf(record, row.elapsedSeconds, started || row.state === 'RUNNING');
      const expiresAt = deadlineOf(row);
      if (row.state === 'RUNNING' && (record.state === 'IN_QUEUE' || record.state === 'SUSPENDED')) {
        const resumed = record.state === 'SUSPENDED';
        change(job, {
          state: 'RUNNING',
          status: resumed ? 'Job resumed' : `Running on ${row.nodeList ?? 'its nodes'} (Slurm job ${row.slurmJobId})`,
          ...(record.startedAt === null && row.startTime !== null ? { startedAt: row.startTime } : {}),
          ...(expiresAt !== null ? { expiresAt } : {}),
          usageUnits,
        });
        return false;
      }
      const update: DriverJobChange = {};
      if (usageUnits !== record.usageUnits) update.usageUnits = usageUnits;
      // Slurm moved the deadline (a resume, or a limit changed outside Switchyard).
      if (row.state === 'RUNNING' && expiresAt !== null && (record.expiresAt === null || Math.abs(expiresAt - record.expiresAt) >= 2_000)) update.expiresAt = expiresAt;
      if (Object.keys(update).length > 0) change(job, update);
      return false;
    }
    if (row.state === 'SUSPENDED' || row.state === 'STOPPED') {
      job.problem = null;
      if (record.state === 'RUNNING' || record.state === 'IN_QUEUE') {
        change(job, { state: 'SUSPENDED', status: row.state === 'STOPPED' ? 'Stopped by Slurm' : 'Job suspended' });
      }
      return false;
    }
    noteProblem(job, `unknown Slurm state ${row.state}`, JSON.stringify(row));
    return false;
  };

  /** The final change for a job Slurm reports ended. */
  const finalChange = (record: JobRecord, state: string, reason: string | null, exitText: string | null): DriverJobChange => {
    const code = exitText ? parseSlurmExitCode(exitText) : null;
    const exitCode = code ? switchyardExitCode(code) : undefined;
    const withExit = exitCode !== undefined ? { exitCode } : {};
    switch (state) {
      case 'COMPLETED':
        return { state: 'SUCCESS', status: `Job finished with exit code ${exitCode ?? 0}`, exitCode: exitCode ?? 0 };
      case 'FAILED': {
        // A non-zero exit is the application's; Slurm failing to run it is not.
        const application = reason === null || reason === 'NonZeroExitCode' || reason.startsWith('RaisedSignal');
        if (application && exitCode !== undefined && exitCode !== 0) return { state: 'SUCCESS', status: `Job finished with exit code ${exitCode}`, exitCode };
        return { state: 'FAILURE', status: `Slurm could not run the job (${reason ?? 'FAILED'}${exitText ? `, exit code ${exitText}` : ''})`, ...withExit };
      }
      case 'CANCELLED':
        if (record.ending === 'TERMINATE') {
          return { state: 'SUCCESS', status: record.endingReason ? `${STATUS_TERMINATED} (${record.endingReason})` : STATUS_TERMINATED, ...withExit };
        }
        return { state: 'FAILURE', status: STATUS_CANCELLED_OUTSIDE, ...withExit };
      case 'TIMEOUT':
        return { state: 'EXPIRED', status: STATUS_EXPIRED, ...withExit };
      case 'DEADLINE':
        return { state: 'EXPIRED', status: `${STATUS_EXPIRED} (${FAILURE_STATES.DEADLINE})`, ...withExit };
      default: {
        const meaning = FAILURE_STATES[state];
        return { state: 'FAILURE', status: `Slurm ended the job: ${meaning ?? 'it failed'} (${state}${reason ? `, ${reason}` : ''})`, ...withExit };
      }
    }
  };

  /** End a job: its last output, then its final change with exit code and usage. */
  const finish = async (job: LiveJob, row: SqueueJob | null, accounted: SacctJob | null) => {
    const { record } = job;
    if (isFinalState(record.state)) return;
    let exitText = accounted?.exitCode ?? null;
    if (exitText === null && record.slurmJobId !== null && row !== null) {
      const shown = await scontrolJob(record.slurmJobId);
      if (shown?.ExitCode && parseSlurmExitCode(shown.ExitCode)) exitText = shown.ExitCode;
    }
    exitText ??= row?.exitCode ?? null;
    const state = row?.state ?? accounted?.state ?? 'FAILED';
    const reason = row ? record.slurm.reason : null;
    const startTime = row?.startTime ?? accounted?.startTime ?? null;
    // squeue's run time leaves suspended time out; sacct's Elapsed does not.
    const elapsedSeconds = row?.elapsedSeconds ?? accounted?.elapsedSeconds ?? null;
    record.slurm = {
      ...record.slurm,
      state,
      reason,
      partition: row?.partition ?? accounted?.partition ?? record.slurm.partition,
      nodeList: row?.nodeList ?? accounted?.nodeList ?? record.slurm.nodeList,
      elapsedSeconds,
      exitCode: exitText,
    };
    await tail(job, true);
    const update = finalChange(record, state, reason, exitText);
    // A job cancelled while it waited has a start time in Slurm but never ran: it has no nodes.
    const nodes = record.slurm.nodeList;
    const started = record.startedAt !== null || (elapsedSeconds ?? 0) > 0 || (startTime !== null && nodes !== null && nodes !== 'None assigned');
    if (record.startedAt === null && started && startTime !== null) update.startedAt = startTime;
    // The last change always carries the usage total.
    update.usageUnits = usageUnitsOf(record, elapsedSeconds, started);
    change(job, update);
    job.files.clear();
  };

  /** One look at Slurm: squeue for all our jobs, sacct/scontrol for those that ended, output of the running ones. */
  const pollOnce = async (force: boolean): Promise<void> => {
    if (!ctx) return;
    const active = [...jobs.values()].filter((job) => !isFinalState(job.record.state) && job.record.slurmJobId !== null);
    if (active.length === 0 && !force) return;
    const startedAt = performance.now();
    let lines: SqueueLine[];
    try {
      lines = await squeueOurs();
    } catch (error) {
      failedPolls += 1;
      if (failedPolls === 1) logger().warn({ err: error }, 'squeue failed; jobs keep their last known state');
      if (failedPolls >= OUTAGE_POLLS) {
        for (const job of active) {
          if (job.toldOutage) continue;
          job.toldOutage = true;
          change(job, { status: `Slurm is not answering (${error instanceof Error ? error.message : String(error)}); the job keeps its last known state` });
        }
      }
      return;
    }
    if (failedPolls > 0) logger().info({ failedPolls }, 'squeue answers again');
    failedPolls = 0;
    const bySlurmId = new Map<string, SqueueLine>();
    const byName = new Map<string, SqueueJob>();
    for (const line of lines) {
      bySlurmId.set(line.slurmJobId, line);
      if (line.job) byName.set(line.job.name, line.job);
    }
    lastSnapshot = { at: performance.now(), byName };

    const ended: Array<{ job: LiveJob; row: SqueueJob }> = [];
    const missing: LiveJob[] = [];
    for (const job of active) {
      // An operation under way reports its own change first; the next poll sees the job.
      if (job.busy > 0) continue;
      const line = bySlurmId.get(job.record.slurmJobId!);
      if (!line) {
        // A job submitted after squeue ran cannot be in its answer.
        if (job.knownSince < startedAt) missing.push(job);
        continue;
      }
      if (!line.job) {
        noteProblem(job, line.problem ?? 'unreadable line', line.raw);
        continue;
      }
      try {
        if (applyRow(job, line.job)) ended.push({ job, row: line.job });
      } catch (error) {
        logger().error({ err: error, jobId: job.record.id }, 'applying Slurm state failed');
      }
    }

    const accounted = await sacctRecords([...ended.map((e) => e.job.record.slurmJobId!), ...missing.map((j) => j.record.slurmJobId!)]);
    for (const { job, row } of ended) await finish(job, row, accounted.get(job.record.slurmJobId!) ?? null);
    for (const job of missing) {
      const record = accounted.get(job.record.slurmJobId!);
      if (record && FINAL_SLURM_STATES.has(record.state)) {
        await finish(job, null, record);
        continue;
      }
      job.missingPolls += 1;
      if (job.missingPolls >= MISSING_POLLS) {
        logger().warn({ jobId: job.record.id, slurmJobId: job.record.slurmJobId }, 'Slurm has no record of the job');
        await tail(job, true);
        change(job, { state: 'FAILURE', status: `Slurm has no record of job ${job.record.slurmJobId} any more; its end is unknown` });
      }
    }
    // Output of what runs (and of jobs stopped mid-way) goes out on every poll.
    const writing = active.filter((job) => !isFinalState(job.record.state) && job.record.state !== 'IN_QUEUE');
    await Promise.all(
      writing.map(async (job) => {
        if (await tail(job, false)) void persist(job.record);
      }),
    );
  };

  /** Poll now, or join the poll under way. */
  const poll = (force = false): Promise<void> => {
    if (polling) return polling;
    polling = pollOnce(force)
      .catch((error: unknown) => ctx?.logger.error({ err: error }, 'poll failed'))
      .finally(() => {
        polling = null;
      });
    return polling;
  };

  const schedule = () => {
    pollTimer = setTimeout(() => {
      void poll().finally(() => {
        if (ctx && pollTimer !== null) schedule();
      });
    }, pollIntervalMs);
    pollTimer.unref();
  };

  // --- products -----------------------------------------------------------

  const support = (partition: SlurmPartitionInfo, cpusPerTask: number): ComputeSupport =>
    computeSupport({
      backend: 'NATIVE',
      timeExtension: true,
      suspension,
      maxReplicas: Math.max(1, Math.floor((partition.totalCpus ?? cpusPerTask) / cpusPerTask)),
      maxTimeAllocationMs: partition.maxTimeSeconds !== null && Number.isFinite(partition.maxTimeSeconds) ? partition.maxTimeSeconds * 1000 : null,
    });

  const readCluster = async (): Promise<{ partitions: SlurmPartitionInfo[]; nodes: SinfoNode[] }> => {
    const [shown, sinfo] = await Promise.all([run('scontrol', ['show', 'partition', '-o']), run('sinfo', ['-N', '-h', '-O', SINFO_NODE_FORMAT])]);
    const partitions = parsePartitions(shown.stdout);
    const parsed = parseSinfoNodes(sinfo.stdout);
    if (parsed.problems.length > 0) logger().warn({ lines: parsed.problems.slice(0, 5) }, 'did not understand some sinfo lines; those nodes are left out');
    return { partitions, nodes: parsed.nodes };
  };

  const buildProducts = (partitions: SlurmPartitionInfo[], nodes: SinfoNode[]): PartitionProduct[] => {
    const entries = partitionConfig ?? partitions.map((p) => ({ partition: p.name }) as SlurmPartitionProduct);
    const unknown = entries.filter((entry) => !partitions.some((p) => p.name === entry.partition)).map((e) => e.partition);
    if (unknown.length > 0) {
      throw new InvalidInputError(
        `Slurm partition${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `"${u}"`).join(', ')} ${unknown.length > 1 ? 'do' : 'does'} not exist in this cluster (it has: ${partitions.map((p) => p.name).join(', ') || 'none'})`,
      );
    }
    return entries.map((entry) => {
      const partition = partitions.find((p) => p.name === entry.partition)!;
      const cpusPerTask = entry.cpu ?? 1;
      let memoryMb: number;
      if (entry.memoryInGigs !== undefined) {
        memoryMb = Math.ceil(entry.memoryInGigs * 1024);
      } else {
        const perCpu = nodes.filter((n) => n.partition === partition.name && n.totalCpus > 0).map((n) => n.memoryMb / n.totalCpus);
        const smallest = perCpu.length > 0 ? Math.min(...perCpu) : 1024;
        memoryMb = Math.max(128, Math.floor(Math.min(1024, smallest) / 128) * 128) * cpusPerTask;
      }
      const memoryInGigs = entry.memoryInGigs ?? memoryMb / 1024;
      const product: Product = {
        id: entry.productId ?? `slurm-${partition.name.replace(/[^A-Za-z0-9_-]/g, '-')}`,
        category: entry.category ?? 'slurm-cpu',
        name: entry.name ?? `Slurm ${partition.name}`,
        description:
          entry.description ??
          `${cpusPerTask} CPU${cpusPerTask > 1 ? 's' : ''} and ${memoryInGigs} GiB per replica in Slurm partition ${partition.name}`,
        cpu: cpusPerTask,
        memoryInGigs,
        gpu: 0,
        pricePerUnit: entry.pricePerUnit ?? cpusPerTask,
        unitOfPrice: entry.unitOfPrice ?? 'CREDITS_PER_HOUR',
        freeToUse: entry.freeToUse ?? false,
        priority: entry.priority ?? 0,
        support: support(partition, cpusPerTask),
      };
      return { product, partition, cpusPerTask, memoryMb };
    });
  };

  // --- create ---------------------------------------------------------------

  interface Validated {
    sold: PartitionProduct;
    timeMinutes: number;
    cwd: string;
  }

  const validate = (job: CreateJob): Validated => {
    const spec = job.specification;
    if (!idSchema.safeParse(job.id).success) throw new InvalidInputError(`Invalid job id "${job.id}"`);
    const sold = productOf(job.product.id);
    if (!sold) throw new InvalidInputError(`The Slurm provider does not sell product ${job.product.id}`);
    const command = spec.command ?? [];
    if (command.length === 0 || command[0].length === 0) throw new InvalidInputError('The Slurm provider runs a command: specification.command is missing');
    if (command.some((word) => word.includes('\0'))) throw new InvalidInputError('The command must not contain NUL characters');
    for (const [key, value] of Object.entries(spec.env ?? {})) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new InvalidInputError(`Invalid environment variable name "${key}"`);
      if (value.includes('\0')) throw new InvalidInputError(`Environment variable ${key} must not contain NUL characters`);
    }
    if (spec.replicas > sold.product.support.maxReplicas) {
      throw new InvalidInputError(`Partition ${sold.partition.name} runs at most ${sold.product.support.maxReplicas} replicas of ${sold.product.id}`);
    }
    if (spec.workingDir !== null && !isAbsolute(spec.workingDir)) throw new InvalidInputError(`The working directory must be an absolute path: ${spec.workingDir}`);
    if (spec.workingDir?.includes('\0') || spec.workingDir?.includes('\n')) throw new InvalidInputError('Invalid working directory');
    const { partition } = sold;
    let timeMinutes: number;
    if (spec.timeAllocationMs !== null) timeMinutes = Math.ceil(spec.timeAllocationMs / 60_000);
    else if (partition.defaultTimeSeconds !== null && Number.isFinite(partition.defaultTimeSeconds)) timeMinutes = Math.ceil(partition.defaultTimeSeconds / 60);
    else if (partition.maxTimeSeconds !== null && Number.isFinite(partition.maxTimeSeconds)) timeMinutes = Math.ceil(partition.maxTimeSeconds / 60);
    else timeMinutes = fallbackTimeMinutes;
    if (partition.maxTimeSeconds !== null && timeMinutes * 60 > partition.maxTimeSeconds) {
      throw new InvalidInputError(`The time allocation (${timeMinutes} min) exceeds the longest partition ${partition.name} allows (${formatLimit(partition.maxTimeSeconds)})`);
    }
    return { sold, timeMinutes, cwd: spec.workingDir ?? jobDir(job.id) };
  };

  /** sbatch's arguments for a job, its script last. */
  const sbatchArgs = (job: CreateJob, v: Validated, script: string, account: UnixAccount | null): string[] => {
    const dir = jobDir(job.id);
    const replicas = job.specification.replicas;
    const memory = v.sold.memoryMb > 0 ? [replicas === 1 ? `--mem=${v.sold.memoryMb}M` : `--mem-per-cpu=${Math.ceil(v.sold.memoryMb / v.sold.cpusPerTask)}M`] : [];
    return [
      '--parsable',
      `--job-name=${SLURM_JOB_NAME_PREFIX}${job.id}`,
      `--comment=${job.id}`,
      `--partition=${v.sold.partition.name}`,
      `--time=${v.timeMinutes}`,
      `--ntasks=${replicas}`,
      `--cpus-per-task=${v.sold.cpusPerTask}`,
      ...memory,
      `--chdir=${v.cwd}`,
      `--output=${slurmPath(join(dir, 'batch.out'))}`,
      `--error=${slurmPath(join(dir, 'batch.err'))}`,
      // The job gets the user's login environment on the node, not the provider's.
      '--export=NONE',
      // Slurm runs it as this account (root may submit for any user).
      ...(account ? [`--uid=${account.uid}`, `--gid=${account.gid}`] : []),
      script,
    ];
  };

  const submitted = (slurmJobId: string, v: Validated, job: CreateJob, account: UnixAccount | null): JobRecord => ({
    v: 1,
    id: job.id,
    slurmJobId,
    state: 'IN_QUEUE',
    status: null,
    exitCode: null,
    startedAt: null,
    expiresAt: null,
    productId: v.sold.product.id,
    replicas: job.specification.replicas,
    unitSeconds: UNIT_SECONDS[v.sold.product.unitOfPrice],
    usageUnits: 0,
    ending: null,
    endingReason: null,
    offsets: {},
    slurm: {
      state: 'PENDING',
      reason: null,
      partition: v.sold.partition.name,
      nodeList: null,
      elapsedSeconds: null,
      exitCode: null,
      timeLimitSeconds: v.timeMinutes * 60,
    },
    account: account ? { uid: account.uid, gid: account.gid, name: account.name } : null,
  });

  /** A job of ours Slurm knows (found by name), as a record. */
  const adopt = (id: string, row: SqueueJob, base?: JobRecord): LiveJob => {
    const sold = base ? productOf(base.productId) : products.find((p) => p.partition.name === row.partition);
    const record: JobRecord = base
      ? { ...base, slurmJobId: row.slurmJobId }
      : {
          v: 1,
          id,
          slurmJobId: row.slurmJobId,
          state: 'IN_QUEUE',
          status: null,
          exitCode: null,
          startedAt: null,
          expiresAt: null,
          productId: sold?.product.id ?? 'unknown',
          replicas: row.tasks ?? 1,
          unitSeconds: sold ? UNIT_SECONDS[sold.product.unitOfPrice] : 3600,
          usageUnits: 0,
          ending: null,
          endingReason: null,
          offsets: {},
          slurm: { state: row.state, reason: null, partition: row.partition, nodeList: row.nodeList, elapsedSeconds: null, exitCode: null, timeLimitSeconds: row.timeLimitSeconds },
          account: null,
        };
    const job = live(record);
    jobs.set(id, job);
    void persist(record);
    return job;
  };

  /** Look a job up in Slurm by its name (`sy-<id>`). */
  const findByName = async (id: string): Promise<SqueueJob | null> => {
    const lines = await squeueOurs([`--name=${SLURM_JOB_NAME_PREFIX}${id}`]);
    const rows = lines.map((l) => l.job).filter((row): row is SqueueJob => row !== null && row.name === `${SLURM_JOB_NAME_PREFIX}${id}`);
    // The newest, if someone submitted it twice by hand.
    return rows.sort((a, b) => Number(b.slurmJobId) - Number(a.slurmJobId))[0] ?? null;
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

  const submit = async (job: CreateJob): Promise<{ providerGeneratedId: string | null }> => {
    const v = validate(job);
    await refuseWorkDir(job.specification.workingDir);
    const spec = job.specification;
    const dir = jobDir(job.id);
    const existing = await readFile(recordPath(job.id), 'utf8').catch(() => null);
    // A record without a Slurm id: an earlier sbatch of this job may have gone through. Ask Slurm before submitting again.
    if (existing !== null) {
      const found = await findByName(job.id);
      if (found) {
        let previous: unknown = null;
        try {
          previous = JSON.parse(existing);
        } catch {
          // Half-written: the job is adopted from Slurm's view alone.
        }
        const adopted = adopt(job.id, found, jobRecordSchema.safeParse(previous).data);
        return { providerGeneratedId: adopted.record.slurmJobId };
      }
    }
    const account = accounts ? accounts.accountFor(job.owner.createdBy) : null;
    await mkdir(dir, { recursive: true });
    if (account) {
      // Slurm writes the output files as the job's account; no other account may read them.
      await chown(dir, account.uid, account.gid);
      await chmod(dir, 0o700);
    }
    const script = join(dir, 'job.sh');
    const lines = [
      '#!/bin/bash',
      `# Switchyard job ${job.id}, submitted by the Slurm provider: one srun task per replica, each rank's output in its own files.`,
      ...Object.entries(spec.env ?? {}).map(([key, value]) => `export ${key}=${shellQuote(value)}`),
      `export SWITCHYARD_JOB_ID=${shellQuote(job.id)}`,
      `export SWITCHYARD_REPLICAS=${shellQuote(String(spec.replicas))}`,
      [
        'exec srun --export=ALL',
        shellQuote(`--output=${slurmPath(dir)}/rank-%t.out`),
        shellQuote(`--error=${slurmPath(dir)}/rank-%t.err`),
        `/bin/bash -c 'export SWITCHYARD_RANK="$SLURM_PROCID"; exec "$@"' switchyard-rank`,
        ...spec.command!.map(shellQuote),
      ].join(' '),
      '',
    ];
    // Written afresh, never through a link the job's account may have left in its directory (a retried submission).
    await rm(script, { force: true });
    await writeFile(script, lines.join('\n'), { mode: 0o755, flag: 'wx' });
    // The record exists before sbatch runs: a crash from here on leaves something to find the job by.
    const pending: JobRecord = { ...submitted('', v, job, account), slurmJobId: null, status: 'Submitting to Slurm' };
    await persist(pending);

    let output: string;
    try {
      output = (await run('sbatch', sbatchArgs(job, v, script, account))).stdout;
    } catch (error) {
      if (error instanceof SlurmCommandError && (error.timedOut || error.exitCode === null)) {
        // It may have been submitted before it stopped answering: look before giving up.
        const found = await findByName(job.id).catch(() => null);
        if (found) {
          logger().warn({ jobId: job.id, slurmJobId: found.slurmJobId }, 'sbatch did not answer but the job was submitted');
          return { providerGeneratedId: adopt(job.id, found, pending).record.slurmJobId };
        }
      }
      await records.saved(job.id);
      await rm(recordPath(job.id), { force: true });
      if (error instanceof SlurmCommandError && error.exitCode !== null) {
        const why = firstLines(error.stderr) || error.detail;
        if (/Requested time limit is invalid|More processors requested|Memory required by task is not available|Requested node configuration is not available|Invalid generic resource|Invalid account|Invalid qos/i.test(why)) {
          throw new InvalidInputError(`Slurm refused the job: ${why}`);
        }
      }
      throw error;
    }
    const match = /^(\d+)(?:;\S*)?\s*$/.exec(output.trim());
    let slurmJobId = match?.[1] ?? null;
    if (slurmJobId === null) {
      logger().warn({ jobId: job.id, output }, 'sbatch answered something Switchyard does not understand; looking the job up by name');
      slurmJobId = (await findByName(job.id).catch(() => null))?.slurmJobId ?? null;
      if (slurmJobId === null) {
        await records.saved(job.id);
        await rm(recordPath(job.id), { force: true });
        throw new SwitchyardError('PROVIDER_UNAVAILABLE', `sbatch answered "${firstLines(output)}", which is not a job id, and no job ${SLURM_JOB_NAME_PREFIX}${job.id} is in the queue`);
      }
    }
    const liveJob = live(submitted(slurmJobId, v, job, account));
    jobs.set(job.id, liveJob);
    change(liveJob, {
      state: 'IN_QUEUE',
      status: `Submitted to Slurm as job ${slurmJobId} in partition ${v.sold.partition.name}`,
      providerGeneratedId: slurmJobId,
    });
    await records.saved(job.id);
    return { providerGeneratedId: slurmJobId };
  };

  /** The job, once any create of it under way has settled. */
  const lookup = async (jobId: string): Promise<LiveJob> => {
    await creating.settled(jobId);
    const job = jobs.get(jobId);
    if (!job || job.record.slurmJobId === null) throw new NotFoundError('Job', jobId);
    return job;
  };

  /** Run an operation on a job with polls holding off it, so that its change is reported before what the poll sees. */
  const operate = async <T>(job: LiveJob, fn: () => Promise<T>): Promise<T> => {
    job.busy += 1;
    try {
      return await fn();
    } finally {
      job.busy -= 1;
    }
  };

  /** Slurm's current row for one job (after an operation), or null. */
  const rowOf = async (slurmJobId: string): Promise<SqueueJob | null> => {
    const lines = await squeueOurs([`--jobs=${slurmJobId}`]).catch(() => [] as SqueueLine[]);
    return lines.find((l) => l.slurmJobId === slurmJobId)?.job ?? null;
  };

  const observation = (jobId: string, job: LiveJob | undefined): JobObservation => {
    if (!job || job.record.slurmJobId === null) {
      return { id: jobId, state: null, status: null, exitCode: null, startedAt: null, expiresAt: null, providerGeneratedId: null };
    }
    const { record } = job;
    return {
      id: jobId,
      state: record.state,
      status: record.status,
      exitCode: record.exitCode,
      startedAt: record.startedAt,
      expiresAt: record.expiresAt,
      providerGeneratedId: record.slurmJobId,
    };
  };

  const readRecords = (): Promise<JobRecord[]> => records.readAll();

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

  // --- subschema ------------------------------------------------------------------

  const typeDefs = /* GraphQL */ `
    "Slurm's own view of a job the Slurm provider runs."
    type SlurmJobDetails {
      "Slurm's job id."
      jobId: String!
      partition: String!
      "The nodes it runs or ran on, as a Slurm node list (e.g. node[1-4])."
      nodeList: String
      "Why Slurm keeps it waiting (Resources, Priority, ...), while it waits."
      pendingReason: String
      "Run time so far, suspended time excluded."
      elapsedSeconds: Int
      "The exit code as Slurm reports it, exit:signal (e.g. 3:0)."
      exitCode: String
      "Slurm's state: PENDING, RUNNING, SUSPENDED, COMPLETED, FAILED, CANCELLED, TIMEOUT, ..."
      state: String!
      "The time limit as Slurm prints it (e.g. 1:00:00), UNLIMITED, or null."
      timeLimit: String
      "The Unix account Slurm runs it as; null when it runs as the provider's own."
      uid: Int
    }

    "A partition of the Slurm cluster behind a provider."
    type SlurmPartition {
      name: String!
      "UP, DOWN, DRAIN or INACTIVE."
      state: String!
      totalCpus: Int!
      idleCpus: Int!
      allocatedCpus: Int!
      "Its nodes, as a Slurm node list."
      nodes: String!
      "The longest time limit it allows, as Slurm prints it, or UNLIMITED."
      maxTime: String
      "Whether jobs that name no partition go here."
      default: Boolean!
    }

    type Job @key(selectionSet: "{ id }") {
      id: ID!
      "Slurm's view of the job; null for jobs not run by a Slurm provider."
      slurm: SlurmJobDetails
    }

    type Provider @key(selectionSet: "{ id }") {
      id: ID!
      "The Slurm partitions of this provider's cluster; null for other providers."
      slurmPartitions: [SlurmPartition!]
    }

    type Query {
      _slurmJobs(ids: [ID!]!): [Job]! @merge(keyField: "id")
      _slurmProviders(ids: [ID!]!): [Provider]! @merge(keyField: "id")
    }
  `;

  const jobDetails = (job: LiveJob) => {
    const { record } = job;
    const { slurm } = record;
    return {
      jobId: record.slurmJobId,
      partition: slurm.partition,
      nodeList: slurm.nodeList,
      pendingReason: slurm.state !== null && WAITING_SLURM_STATES.has(slurm.state) ? slurm.reason : null,
      elapsedSeconds: slurm.elapsedSeconds,
      exitCode: slurm.exitCode,
      state: slurm.state ?? 'UNKNOWN',
      timeLimit: formatLimit(slurm.timeLimitSeconds),
      uid: record.account?.uid ?? null,
    };
  };

  const partitionsView = async () => {
    const { partitions, nodes } = await readCluster();
    return partitions.map((p) => {
      const rows = nodes.filter((n) => n.partition === p.name);
      const sum = (pick: (n: SinfoNode) => number) => rows.reduce((total, n) => total + pick(n), 0);
      return {
        name: p.name,
        state: p.state,
        totalCpus: p.totalCpus ?? sum((n) => n.totalCpus),
        idleCpus: sum((n) => n.idleCpus),
        allocatedCpus: sum((n) => n.allocatedCpus),
        nodes: p.nodes,
        maxTime: formatLimit(p.maxTimeSeconds),
        default: p.isDefault,
      };
    });
  };

  const resolvers = {
    Query: {
      _slurmJobs: async (_root: unknown, { ids }: { ids: string[] }) => {
        // Fresh enough: at most one poll interval old.
        if (ids.some((id) => jobs.has(id))) await refresh();
        return ids.map((id) => {
          const job = jobs.get(id);
          return job && job.record.slurmJobId !== null ? { id, slurm: jobDetails(job) } : null;
        });
      },
      _slurmProviders: (_root: unknown, { ids }: { ids: string[] }) =>
        ids.map((id) => (ctx && id === ctx.providerId ? { id, slurmPartitions: () => partitionsView() } : null)),
    },
  };

  /** Bring the view up to date for an answer: join a poll under way, or poll when the last one is older than an interval. */
  const refresh = async () => {
    if (polling) return polling;
    if (lastSnapshot && performance.now() - lastSnapshot.at < Math.min(pollIntervalMs, 1_000)) return;
    await poll(true);
  };

  return {
    async start(driverContext) {
      ctx = driverContext;
      abort = newAbort();
      jobs.clear();
      lastSnapshot = null;
      failedPolls = 0;
      sacctModes = ['accounting', 'jobcomp'];
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
        products = buildProducts(cluster.partitions, cluster.nodes);
      } catch (error) {
        ctx = null;
        if (error instanceof SlurmCommandError) {
          throw new SwitchyardError('PROVIDER_UNAVAILABLE', `The Slurm provider cannot reach its cluster (SLURM_CONF=${cli.env.SLURM_CONF ?? 'unset'}): ${error.message}`, { cause: error });
        }
        throw error;
      }

      const records = await readRecords();
      recordedUids.clear();
      for (const record of records) if (record.account) recordedUids.add(record.account.uid);
      let lines: SqueueLine[];
      try {
        lines = await squeueOurs();
      } catch (error) {
        ctx = null;
        throw new SwitchyardError('PROVIDER_UNAVAILABLE', `The Slurm provider cannot list its jobs: ${(error as Error).message}`, { cause: error });
      }
      const rows = lines.map((l) => l.job).filter((row): row is SqueueJob => row !== null);
      for (const record of records) {
        if (record.slurmJobId !== null) {
          jobs.set(record.id, live(record));
          continue;
        }
        // Crashed between writing the record and hearing sbatch's answer.
        const found = rows.filter((row) => row.name === `${SLURM_JOB_NAME_PREFIX}${record.id}`).sort((a, b) => Number(b.slurmJobId) - Number(a.slurmJobId))[0];
        if (found) {
          adopt(record.id, found, record);
        } else {
          await rm(recordPath(record.id), { force: true });
        }
      }
      // Jobs of ours that have no record at all (a lost record file).
      for (const row of rows) {
        const id = row.name.slice(SLURM_JOB_NAME_PREFIX.length);
        if (!ours(row) || jobs.has(id) || !idSchema.safeParse(id).success) continue;
        driverContext.logger.info({ jobId: id, slurmJobId: row.slurmJobId }, 'found a job of this provider without a record');
        adopt(id, row);
      }
      driverContext.logger.info({ jobs: jobs.size, products: products.map((p) => p.product.id) }, 'Slurm driver started');
      // Jobs that ended while the provider was down reach their final state now.
      await poll(true);
      pollTimer = null;
      schedule();
    },

    async manifest(): Promise<Manifest> {
      return { products: products.map((p) => p.product) };
    },

    async utilization(): Promise<Utilization> {
      const [{ nodes }, queue] = await Promise.all([readCluster(), run('squeue', ['-h', '-t', 'PD,R,S,CG,CF', '-O', 'State:|,Partition:|'])]);
      const sold = new Set(products.map((p) => p.partition.name));
      const seen = new Map<string, SinfoNode>();
      for (const node of nodes) if (sold.has(node.partition) && !seen.has(node.node)) seen.set(node.node, node);
      const unique = [...seen.values()];
      const gib = (mb: number) => mb / 1024;
      let running = 0;
      let pending = 0;
      for (const line of queue.stdout.split('\n')) {
        const [state, partition] = line.split('|').map((f) => f.trim());
        if (!state || !partition || !partition.split(',').some((p) => sold.has(p))) continue;
        if (state === 'PENDING' || state === 'CONFIGURING') pending += 1;
        else running += 1;
      }
      const usable = (node: SinfoNode) => /^(idle|mixed)$/.test(node.state);
      const capacityByProduct: Record<string, number> = {};
      for (const { product, partition, cpusPerTask, memoryMb } of products) {
        let fits = 0;
        if (partition.state === 'UP') {
          for (const node of nodes) {
            if (node.partition !== partition.name || !usable(node)) continue;
            const byCpu = Math.floor(node.idleCpus / cpusPerTask);
            const byMemory = memoryMb > 0 ? Math.floor(Math.max(0, node.memoryMb - node.allocatedMemoryMb) / memoryMb) : byCpu;
            fits += Math.max(0, Math.min(byCpu, byMemory));
          }
        }
        capacityByProduct[product.id] = fits;
      }
      return {
        capacity: { cpu: unique.reduce((t, n) => t + n.totalCpus, 0), memoryInGigs: gib(unique.reduce((t, n) => t + n.memoryMb, 0)), gpu: 0 },
        usedCapacity: {
          cpu: unique.reduce((t, n) => t + n.allocatedCpus, 0),
          memoryInGigs: gib(unique.reduce((t, n) => t + n.allocatedMemoryMb, 0)),
          gpu: 0,
        },
        queueStatus: { running, pending },
        observedAt: now(),
        capacityByProduct,
      };
    },

    async create(job) {
      const known = jobs.get(job.id);
      if (known && known.record.slurmJobId !== null) return { providerGeneratedId: known.record.slurmJobId };
      return creating.run(job.id, () => submit(job));
    },

    async terminate(jobId, reason) {
      const job = await lookup(jobId);
      const { record } = job;
      if (isFinalState(record.state)) throw new InvalidStateError(jobId, `Job ${jobId} has already ended (${record.state})`);
      if (record.state === 'CANCELING') return;
      // Known before scancel runs, so that the CANCELLED Slurm reports is ours.
      await operate(job, async () => {
        record.ending = 'TERMINATE';
        record.endingReason = reason ?? null;
        await persist(record);
        try {
          await run('scancel', [record.slurmJobId!]);
        } catch (error) {
          record.ending = null;
          record.endingReason = null;
          void persist(record);
          throw operationError(error, jobId, 'terminate');
        }
        if (!isFinalState(record.state)) change(job, { state: 'CANCELING', status: 'Terminating: Slurm is cancelling the job' });
      });
      // The end is reported by the next poll.
      void poll();
    },

    async extend(jobId, addMs) {
      const job = await lookup(jobId);
      const { record } = job;
      if (isFinalState(record.state) || record.state === 'CANCELING') throw new InvalidStateError(jobId, `Cannot extend job ${jobId}: it is ${record.state}`);
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
        const row = await rowOf(record.slurmJobId!);
        if (row) updateView(record, row);
        let expiresAt: number | null;
        if (row?.state === 'RUNNING') expiresAt = deadlineOf(row);
        else if (record.expiresAt !== null) expiresAt = record.expiresAt + minutes * 60_000;
        else expiresAt = null;
        record.expiresAt = expiresAt;
        await persist(record);
        return { expiresAt };
      });
    },

    async suspend(jobId) {
      const job = await lookup(jobId);
      if (job.record.state !== 'RUNNING') throw new InvalidStateError(jobId, `Cannot suspend job ${jobId}: it is ${job.record.state}, not RUNNING`);
      await operate(job, async () => {
        try {
          await run('scontrol', ['suspend', job.record.slurmJobId!]);
        } catch (error) {
          throw operationError(error, jobId, 'suspend');
        }
        job.record.slurm.state = 'SUSPENDED';
        if (job.record.state === 'RUNNING') change(job, { state: 'SUSPENDED', status: 'Job suspended' });
      });
    },

    async unsuspend(jobId) {
      const job = await lookup(jobId);
      if (job.record.state !== 'SUSPENDED') throw new InvalidStateError(jobId, `Cannot resume job ${jobId}: it is ${job.record.state}, not SUSPENDED`);
      await operate(job, async () => {
        try {
          await run('scontrol', ['resume', job.record.slurmJobId!]);
        } catch (error) {
          throw operationError(error, jobId, 'resume');
        }
        // Slurm moves the end time by the time the job was suspended.
        const row = await rowOf(job.record.slurmJobId!);
        if (row) updateView(job.record, row);
        const expiresAt = row?.state === 'RUNNING' ? deadlineOf(row) : null;
        if (job.record.state === 'SUSPENDED') change(job, { state: 'RUNNING', status: 'Job resumed', ...(expiresAt !== null ? { expiresAt } : {}) });
      });
    },

    async observe(jobId) {
      await creating.settled(jobId);
      const known = jobs.get(jobId);
      if (known && isFinalState(known.record.state)) return observation(jobId, known);
      await refresh();
      if (!jobs.has(jobId)) {
        // Not in our records, but Slurm runs it under our name (a lost record, another replica's submission).
        const row = lastSnapshot?.byName.get(`${SLURM_JOB_NAME_PREFIX}${jobId}`);
        if (row && idSchema.safeParse(jobId).success) {
          adopt(jobId, row);
          await poll(true);
        }
      }
      return observation(jobId, jobs.get(jobId));
    },

    async stop() {
      // A submission under way finishes first, so its job is recorded.
      await creating.allSettled();
      if (pollTimer) clearTimeout(pollTimer);
      pollTimer = null;
      abort.abort();
      await polling;
      await records.flush();
      jobs.clear();
      ctx = null;
    },

    subschema() {
      return { typeDefs, resolvers };
    },
  };
}
