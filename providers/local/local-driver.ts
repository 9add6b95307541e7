/**
 * The local provider: runs a job's command as processes on this host, one per
 * replica, each in a process group of its own so that signals reach whatever
 * the command started. Job records live as JSON files in the state directory,
 * so a restarted provider knows which jobs ended and which lost their
 * processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { constants as osConstants, cpus, hostname, loadavg, totalmem } from 'node:os';
import { isAbsolute, join } from 'node:path';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { computeSupport, idSchema, jobStateSchema, type Manifest, type Product, type Utilization } from '../../shared/domain.js';
import { InvalidInputError, InvalidStateError, NotFoundError } from '../../shared/errors.js';
import { isFinalState, type JobState } from '../../shared/job-state-machine.js';
import type { CreateJob, JobObservation } from '../../shared/protocol.js';
import { createSingleFlight } from '../../shared/single-flight.js';
import { createJobRecordFiles } from '../sdk/job-records.js';
import type { Driver, DriverContext, DriverJobChange } from '../sdk/driver.js';

export interface LocalDriverOptions {
  /** Where job records and per-job working directories live; survives restarts. */
  stateDir: string;
  /** How long a terminated or expired job gets between TERM and KILL. @default 5000 */
  terminateGraceMs?: number;
  /** The products sold. @default LOCAL_PRODUCTS */
  products?: Product[];
}

const LOCAL_SUPPORT = computeSupport({ backend: 'NATIVE', timeExtension: true, suspension: true, maxReplicas: 8 });

/** What the local provider sells unless told otherwise: two sizes of this host's CPU. */
export const LOCAL_PRODUCTS: readonly Product[] = [
  {
    id: 'local-small',
    category: 'local-cpu',
    name: 'Local small',
    description: '1 CPU and 1 GiB of memory on the provider host',
    cpu: 1,
    memoryInGigs: 1,
    gpu: 0,
    pricePerUnit: 1,
    unitOfPrice: 'CREDITS_PER_MINUTE',
    freeToUse: false,
    priority: 0,
    support: LOCAL_SUPPORT,
  },
  {
    id: 'local-large',
    category: 'local-cpu',
    name: 'Local large',
    description: '2 CPUs and 4 GiB of memory on the provider host',
    cpu: 2,
    memoryInGigs: 4,
    gpu: 0,
    pricePerUnit: 3,
    unitOfPrice: 'CREDITS_PER_MINUTE',
    freeToUse: false,
    priority: 0,
    support: LOCAL_SUPPORT,
  },
];

const STATUS_TERMINATED = 'Your job has been terminated';
const STATUS_EXPIRED = 'The job reached the end of its time allocation';
const STATUS_RESTARTED = 'The local provider restarted while the job ran; its processes were stopped';
/** Longest delay setTimeout takes; longer deadlines are re-armed in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** A line longer than this is passed on in pieces rather than held in memory. */
const MAX_LINE_CHARS = 16 * 1024;
/** How long a rank's output may stay open after it exited (a background child holding the pipe). */
const OUTPUT_CLOSE_MS = 500;

/** The local provider's own GraphQL fields, stitched onto Job and Provider by the gateway. */
const LOCAL_SUBSCHEMA = /* GraphQL */ `
  "Where and as what a local job runs."
  type LocalJobDetails {
    host: String!
    "One process per rank, in rank order."
    pids: [Int!]!
    "Each rank's exit code; null while it runs."
    exitCodes: [Int]!
  }
  type LocalHostInfo {
    hostname: String!
    cpus: Int!
    memoryInGigs: Float!
    "1, 5 and 15 minute load averages."
    loadAverage: [Float!]!
  }
  type Job @key(selectionSet: "{ id }") {
    id: ID!
    "Set for jobs of a local provider."
    local: LocalJobDetails
  }
  type Provider @key(selectionSet: "{ id }") {
    id: ID!
    "Set for local providers."
    localHost: LocalHostInfo
  }
  type Query {
    _localJobs(ids: [ID!]!): [Job]! @merge(keyField: "id")
    _localProviders(ids: [ID!]!): [Provider]! @merge(keyField: "id")
  }
`;

const rankRecordSchema = z.object({
  rank: z.number().int().nonnegative(),
  pid: z.number().int().positive(),
  /** Equal to pid (detached: the rank leads its own group); kept apart for clarity. */
  pgid: z.number().int().positive(),
  /** /proc/<pid>/stat starttime: tells our process from a later one that reused its pid. */
  startTicks: z.string().nullable(),
  exitCode: z.number().int().nullable(),
});
type RankRecord = z.infer<typeof rankRecordSchema>;

const jobRecordSchema = z.object({
  v: z.literal(1),
  id: idSchema,
  /** The driver start that owns the processes; any other one finds them orphaned. */
  driverInstance: z.string(),
  bootId: z.string().nullable(),
  state: jobStateSchema,
  status: z.string().nullable(),
  exitCode: z.number().int().nullable(),
  startedAt: z.number().nullable(),
  expiresAt: z.number().nullable(),
  suspendedAt: z.number().nullable(),
  providerGeneratedId: z.string().nullable(),
  productId: z.string(),
  cpu: z.number(),
  memoryInGigs: z.number(),
  replicas: z.number().int().positive(),
  /** Why the processes are being stopped, which decides the final state. */
  ending: z.enum(['TERMINATE', 'EXPIRE']).nullable(),
  /** Why it was terminated, for the final status ("No more credits"). */
  endingReason: z.string().nullable().default(null),
  ranks: z.array(rankRecordSchema),
});
type JobRecord = z.infer<typeof jobRecordSchema>;

/** A job this driver start launched: its record plus what only lives in memory. */
interface LiveJob {
  record: JobRecord;
  children: ChildProcess[];
  /** Ranks whose exit and output are both done. */
  closed: Set<number>;
  launched: boolean;
  finished: boolean;
  deadline: NodeJS.Timeout | null;
  kill: NodeJS.Timeout | null;
  /** Set by stop(): the processes are left running and no longer watched. */
  detached: boolean;
  detachOutput: Array<() => void>;
}

function signalNumber(signal: NodeJS.Signals): number {
  return osConstants.signals[signal] ?? 0;
}

function spawnFailureReason(error: NodeJS.ErrnoException): string {
  if (error.code === 'ENOENT') return 'no such file or directory (ENOENT)';
  if (error.code === 'EACCES') return 'permission denied (EACCES)';
  return error.code ? `${error.message} (${error.code})` : error.message;
}

/** The starttime field of /proc/<pid>/stat, or null if there is no such process. */
async function processStartTicks(pid: number): Promise<string | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may hold spaces and parentheses: count fields after the last ")".
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

async function readBootId(): Promise<string | null> {
  try {
    return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
  } catch {
    return null;
  }
}

/** Signal a process group; false when it no longer exists. */
function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
}

/** Create the local provider's driver. */
export function createLocalDriver(options: LocalDriverOptions): Driver {
  const { stateDir } = options;
  const terminateGraceMs = options.terminateGraceMs ?? 5_000;
  const products = [...(options.products ?? LOCAL_PRODUCTS)];
  const recordsDir = join(stateDir, 'jobs');
  const workDir = join(stateDir, 'work');

  let ctx: DriverContext | null = null;
  let driverInstance = '';
  let bootId: string | null = null;
  /** Every job this driver knows: launched now, or read back from disk. */
  const jobs = new Map<string, LiveJob>();
  const creating = createSingleFlight<{ providerGeneratedId: string | null }>();
  /** One write chain per job, so records land in the order they were made. */

  const context = (): DriverContext => {
    if (!ctx) throw new Error('the local driver is not started');
    return ctx;
  };
  const now = () => context().clock.now();

  const records = createJobRecordFiles({ dir: () => recordsDir, schema: jobRecordSchema, logger: () => ctx?.logger });
  const persist = (record: JobRecord): Promise<void> => records.save(record);

  const change = (job: LiveJob, update: DriverJobChange) => {
    const { record } = job;
    if (update.state) record.state = update.state;
    if (update.status !== undefined) record.status = update.status;
    if (update.exitCode !== undefined) record.exitCode = update.exitCode;
    if (update.expiresAt !== undefined) record.expiresAt = update.expiresAt;
    void persist(record);
    context().emit(record.id, update);
  };

  /** The job, once any create of it under way has settled (so a terminate cannot overtake its start). */
  const lookup = async (jobId: string): Promise<LiveJob> => {
    await creating.settled(jobId);
    const job = jobs.get(jobId);
    if (!job) throw new NotFoundError('Job', jobId);
    return job;
  };

  const signalRanks = (job: LiveJob, signal: NodeJS.Signals) => {
    for (const rank of job.record.ranks) {
      if (job.closed.has(rank.rank)) continue;
      try {
        signalGroup(rank.pgid, signal);
      } catch (error) {
        context().logger.warn({ err: error, jobId: job.record.id, rank: rank.rank, signal }, 'could not signal a rank');
      }
    }
  };

  const clearTimers = (job: LiveJob) => {
    if (job.deadline) clearTimeout(job.deadline);
    if (job.kill) clearTimeout(job.kill);
    job.deadline = null;
    job.kill = null;
  };

  /** TERM now, KILL after the grace; the exit handlers report the end. */
  const stopProcesses = (job: LiveJob, ending: 'TERMINATE' | 'EXPIRE') => {
    job.record.ending = ending;
    if (job.deadline) clearTimeout(job.deadline);
    job.deadline = null;
    signalRanks(job, 'SIGTERM');
    // A stopped process only acts on TERM once it runs again.
    signalRanks(job, 'SIGCONT');
    if (!job.kill) {
      job.kill = setTimeout(() => {
        job.kill = null;
        if (!job.finished && !job.detached) signalRanks(job, 'SIGKILL');
      }, terminateGraceMs);
      // unref: let the provider exit while a grace period runs.
      job.kill.unref();
    }
  };

  const armDeadline = (job: LiveJob) => {
    if (job.deadline) clearTimeout(job.deadline);
    job.deadline = null;
    const { expiresAt } = job.record;
    if (expiresAt === null || job.finished || job.record.state !== 'RUNNING') return;
    const delay = Math.max(0, Math.min(expiresAt - now(), MAX_TIMER_MS));
    job.deadline = setTimeout(() => {
      job.deadline = null;
      if (job.finished || job.detached || job.record.state !== 'RUNNING') return;
      if (job.record.expiresAt !== null && job.record.expiresAt > now()) return armDeadline(job);
      context().logger.info({ jobId: job.record.id }, 'time allocation reached; stopping the job');
      stopProcesses(job, 'EXPIRE');
    }, delay);
    // unref: a deadline alone must not keep the provider alive.
    job.deadline.unref();
  };

  const maybeFinish = (job: LiveJob) => {
    if (!job.launched || job.finished || job.detached) return;
    if (job.closed.size < job.record.ranks.length) return;
    job.finished = true;
    clearTimers(job);
    const exitCode = job.record.ranks.map((rank) => rank.exitCode ?? 0).find((code) => code !== 0) ?? 0;
    job.record.suspendedAt = null;
    if (job.record.ending === 'EXPIRE') {
      change(job, { state: 'EXPIRED', status: STATUS_EXPIRED, exitCode });
    } else if (job.record.ending === 'TERMINATE') {
      const reason = job.record.endingReason;
      change(job, { state: 'SUCCESS', status: reason ? `${STATUS_TERMINATED} (${reason})` : STATUS_TERMINATED, exitCode });
    } else {
      change(job, { state: 'SUCCESS', status: `Job finished with exit code ${exitCode}`, exitCode });
    }
  };

  /** Pass a stream's output on as log lines; a partial last line goes out when the stream ends. */
  const pipeLines = (job: LiveJob, rank: number, stream: Readable, kind: 'stdout' | 'stderr') => {
    let partial = '';
    const jobId = job.record.id;
    const send = (text: string) => context().log(jobId, { rank, [kind]: text, timestamp: now() });
    stream.setEncoding('utf8');
    const onData = (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) send(line);
      while (partial.length > MAX_LINE_CHARS) {
        send(partial.slice(0, MAX_LINE_CHARS));
        partial = partial.slice(MAX_LINE_CHARS);
      }
    };
    const onEnd = () => {
      if (partial.length > 0) send(partial);
      partial = '';
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', (error) => ctx?.logger.warn({ err: error, jobId, rank }, 'reading output failed'));
    job.detachOutput.push(() => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      onEnd();
      stream.destroy();
    });
  };

  const watchRank = (job: LiveJob, child: ChildProcess, rank: RankRecord) => {
    let closeTimer: NodeJS.Timeout | null = null;
    const closed = () => {
      if (closeTimer) clearTimeout(closeTimer);
      if (job.closed.has(rank.rank)) return;
      job.closed.add(rank.rank);
      maybeFinish(job);
    };
    child.on('exit', (code, signal) => {
      rank.exitCode = code ?? (signal ? 128 + signalNumber(signal) : 1);
      if (job.detached) return;
      // Something the rank started still holds its output open: the job is over, so end it.
      closeTimer = setTimeout(() => {
        try {
          signalGroup(rank.pgid, 'SIGKILL');
        } catch {
          // Gone or not ours: nothing left to stop.
        }
        child.stdout?.destroy();
        child.stderr?.destroy();
        closed();
      }, OUTPUT_CLOSE_MS);
      closeTimer.unref();
    });
    child.on('close', () => {
      if (!job.detached) closed();
    });
  };

  /** Spawn one rank; resolves with the child, or the spawn error (ENOENT, EACCES...). */
  const spawnRank = (job: CreateJob, rank: number, cwd: string): Promise<ChildProcess | NodeJS.ErrnoException> => {
    const spec = job.specification;
    const [command, ...args] = spec.command ?? [];
    const env: NodeJS.ProcessEnv = {
      ...(process.env.PATH !== undefined ? { PATH: process.env.PATH } : {}),
      ...(process.env.HOME !== undefined ? { HOME: process.env.HOME } : {}),
      ...(spec.env ?? {}),
      SWITCHYARD_JOB_ID: job.id,
      SWITCHYARD_RANK: String(rank),
      SWITCHYARD_REPLICAS: String(spec.replicas),
    };
    // detached: the rank leads its own process group, so signals to -pid reach its children too.
    const child = spawn(command, args, { detached: true, cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    return new Promise((resolve) => {
      const onError = (error: Error) => {
        child.off('spawn', onSpawn);
        resolve(error as NodeJS.ErrnoException);
      };
      const onSpawn = () => {
        child.off('error', onError);
        // Later errors (a failed kill) must not crash the provider.
        child.on('error', (error) => ctx?.logger.warn({ err: error, jobId: job.id, rank }, 'process error'));
        resolve(child);
      };
      child.once('error', onError);
      child.once('spawn', onSpawn);
    });
  };

  const validate = async (job: CreateJob): Promise<{ product: Product; cwd: string | null }> => {
    const spec = job.specification;
    // The id names a file and a directory: never let it leave the state directory.
    if (!idSchema.safeParse(job.id).success) throw new InvalidInputError(`Invalid job id "${job.id}"`);
    const product = products.find((candidate) => candidate.id === job.product.id);
    if (!product) throw new InvalidInputError(`The local provider does not sell product ${job.product.id}`);
    if (!spec.command || spec.command.length === 0 || spec.command[0].length === 0) {
      throw new InvalidInputError('The local provider runs a command: specification.command is missing');
    }
    if (spec.replicas > product.support.maxReplicas) {
      throw new InvalidInputError(`The local provider runs at most ${product.support.maxReplicas} replicas of ${product.id}`);
    }
    if (spec.workingDir === null) return { product, cwd: null };
    if (!isAbsolute(spec.workingDir)) throw new InvalidInputError(`The working directory must be an absolute path: ${spec.workingDir}`);
    const info = await stat(spec.workingDir).catch(() => null);
    if (!info?.isDirectory()) throw new InvalidInputError(`The working directory ${spec.workingDir} does not exist on the provider host`);
    return { product, cwd: spec.workingDir };
  };

  const launch = async (job: CreateJob): Promise<{ providerGeneratedId: string | null }> => {
    const spec = job.specification;
    const validated = await validate(job);
    const cwd = validated.cwd ?? join(workDir, job.id);
    if (validated.cwd === null) await mkdir(cwd, { recursive: true });

    const live: LiveJob = {
      record: {
        v: 1,
        id: job.id,
        driverInstance,
        bootId,
        state: 'IN_QUEUE',
        status: null,
        exitCode: null,
        startedAt: null,
        expiresAt: null,
        suspendedAt: null,
        providerGeneratedId: null,
        productId: validated.product.id,
        cpu: validated.product.cpu,
        memoryInGigs: validated.product.memoryInGigs,
        replicas: spec.replicas,
        ending: null,
        endingReason: null,
        ranks: [],
      },
      children: [],
      closed: new Set(),
      launched: false,
      finished: false,
      deadline: null,
      kill: null,
      detached: false,
      detachOutput: [],
    };
    jobs.set(job.id, live);
    // Recorded before anything runs: a crash from here on leaves a record to reconcile.
    await persist(live.record);

    const spawned = await Promise.all(Array.from({ length: spec.replicas }, (_, rank) => spawnRank(job, rank, cwd)));
    const failure = spawned.find((result): result is NodeJS.ErrnoException => result instanceof Error);
    const startedAt = now();
    for (const [rank, result] of spawned.entries()) {
      if (result instanceof Error) continue;
      const pid = result.pid!;
      const rankRecord: RankRecord = { rank, pid, pgid: pid, startTicks: null, exitCode: null };
      live.record.ranks.push(rankRecord);
      live.children.push(result);
      watchRank(live, result, rankRecord);
      pipeLines(live, rank, result.stdout!, 'stdout');
      pipeLines(live, rank, result.stderr!, 'stderr');
    }

    if (failure) {
      // Whatever did start goes again: a job runs all its ranks or none.
      live.record.ending = 'TERMINATE';
      signalRanks(live, 'SIGKILL');
      live.finished = true;
      const status = `Could not start "${spec.command![0]}": ${spawnFailureReason(failure)}`;
      context().logger.info({ jobId: job.id, err: failure }, 'job could not start');
      change(live, { state: 'FAILURE', status });
      await records.saved(job.id);
      return { providerGeneratedId: null };
    }

    const record = live.record;
    record.startedAt = startedAt;
    record.expiresAt = spec.timeAllocationMs !== null ? startedAt + spec.timeAllocationMs : null;
    record.providerGeneratedId = String(record.ranks[0].pid);
    const processes = record.ranks.length === 1 ? '1 process' : `${record.ranks.length} processes`;
    change(live, {
      state: 'RUNNING',
      startedAt,
      ...(record.expiresAt !== null ? { expiresAt: record.expiresAt } : {}),
      providerGeneratedId: record.providerGeneratedId,
      status: `Job started on ${hostname()} (${processes})`,
    });
    live.launched = true;
    armDeadline(live);
    // Fast commands may have finished while we were starting them.
    maybeFinish(live);
    await Promise.all(record.ranks.map(async (rank) => (rank.startTicks = await processStartTicks(rank.pid))));
    await persist(record);
    return { providerGeneratedId: record.providerGeneratedId };
  };

  /** A job whose processes belonged to an earlier provider process: stop what is left of them. */
  const recoverOrphan = async (record: JobRecord) => {
    for (const rank of record.ranks) {
      if (record.bootId !== null && record.bootId !== bootId) continue;
      if (!signalGroupExists(rank.pgid)) continue;
      const ticks = await processStartTicks(rank.pgid);
      // The leader's pid now names another process: the group is not ours.
      if (ticks !== null && rank.startTicks !== null && ticks !== rank.startTicks) continue;
      try {
        signalGroup(rank.pgid, 'SIGKILL');
        context().logger.info({ jobId: record.id, rank: rank.rank, pgid: rank.pgid }, 'stopped an orphaned process group');
      } catch (error) {
        context().logger.warn({ err: error, jobId: record.id, pgid: rank.pgid }, 'could not stop an orphaned process group');
      }
    }
    const job: LiveJob = {
      record: { ...record, suspendedAt: null },
      children: [],
      closed: new Set(record.ranks.map((rank) => rank.rank)),
      launched: true,
      finished: true,
      deadline: null,
      kill: null,
      detached: false,
      detachOutput: [],
    };
    jobs.set(record.id, job);
    change(job, { state: 'FAILURE', status: STATUS_RESTARTED });
  };

  const signalGroupExists = (pgid: number): boolean => {
    try {
      return signalGroup(pgid, 0);
    } catch {
      // EPERM: the group exists but belongs to someone else, so it is not ours.
      return false;
    }
  };

  const readRecords = (): Promise<JobRecord[]> => records.readAll();

  const observation = (jobId: string, job: LiveJob | undefined): JobObservation => {
    if (!job) return { id: jobId, state: null, status: null, exitCode: null, startedAt: null, expiresAt: null, providerGeneratedId: null };
    const { record } = job;
    return {
      id: jobId,
      state: record.state,
      status: record.status,
      exitCode: record.exitCode,
      startedAt: record.startedAt,
      expiresAt: record.expiresAt,
      providerGeneratedId: record.providerGeneratedId,
    };
  };

  const ended = (job: LiveJob) => isFinalState(job.record.state);

  const requireState = (job: LiveJob, allowed: JobState, action: string) => {
    if (job.record.state !== allowed) {
      throw new InvalidStateError(job.record.id, `Cannot ${action} job ${job.record.id}: it is ${job.record.state}, not ${allowed}`);
    }
  };

  return {
    async start(driverContext) {
      ctx = driverContext;
      driverInstance = randomUUID();
      bootId = await readBootId();
      jobs.clear();
      await mkdir(recordsDir, { recursive: true });
      await mkdir(workDir, { recursive: true });
      for (const record of await readRecords()) {
        if (isFinalState(record.state)) {
          jobs.set(record.id, {
            record,
            children: [],
            closed: new Set(),
            launched: true,
            finished: true,
            deadline: null,
            kill: null,
            detached: false,
            detachOutput: [],
          });
        } else {
          await recoverOrphan(record);
        }
      }
      await records.flush();
    },

    async manifest(): Promise<Manifest> {
      return { products: [...products] };
    },

    async utilization(): Promise<Utilization> {
      let cpu = 0;
      let memoryInGigs = 0;
      let running = 0;
      let pending = 0;
      for (const { record } of jobs.values()) {
        if (record.state === 'RUNNING') {
          running += 1;
          // A product is the size of one replica.
          cpu += record.cpu * record.replicas;
          memoryInGigs += record.memoryInGigs * record.replicas;
        } else if (record.state === 'IN_QUEUE') {
          pending += 1;
        }
      }
      const capacity = { cpu: cpus().length, memoryInGigs: totalmem() / 2 ** 30, gpu: 0 };
      // Jobs start at once here; capacity says how many more fit without oversubscribing the host.
      const capacityByProduct: Record<string, number> = {};
      for (const product of products) {
        const byCpu = product.cpu > 0 ? Math.floor(Math.max(0, capacity.cpu - cpu) / product.cpu) : Number.MAX_SAFE_INTEGER;
        const byMemory = product.memoryInGigs > 0 ? Math.floor(Math.max(0, capacity.memoryInGigs - memoryInGigs) / product.memoryInGigs) : byCpu;
        capacityByProduct[product.id] = Math.min(byCpu, byMemory);
      }
      return {
        capacity,
        usedCapacity: { cpu, memoryInGigs, gpu: 0 },
        queueStatus: { running, pending },
        observedAt: now(),
        capacityByProduct,
      };
    },

    async create(job) {
      const known = jobs.get(job.id);
      if (known) return { providerGeneratedId: known.record.providerGeneratedId };
      return creating.run(job.id, () =>
        launch(job).catch((error: unknown) => {
          // A refused create leaves nothing behind, so a corrected retry may run.
          const partial = jobs.get(job.id);
          if (partial && partial.record.ranks.length === 0 && partial.record.state === 'IN_QUEUE') jobs.delete(job.id);
          throw error;
        }),
      );
    },

    async terminate(jobId, reason) {
      const job = await lookup(jobId);
      if (ended(job)) throw new InvalidStateError(jobId, `Job ${jobId} has already ended (${job.record.state})`);
      if (job.record.state === 'CANCELING') return;
      job.record.suspendedAt = null;
      job.record.endingReason = reason ?? null;
      change(job, { state: 'CANCELING', status: 'Terminating' });
      stopProcesses(job, 'TERMINATE');
    },

    async extend(jobId, addMs) {
      const job = await lookup(jobId);
      const { record } = job;
      if (ended(job) || record.state === 'CANCELING') {
        throw new InvalidStateError(jobId, `Cannot extend job ${jobId}: it is ${record.state}`);
      }
      if (record.expiresAt !== null) {
        record.expiresAt += addMs;
      } else {
        // No deadline yet: it becomes addMs of running time from now (from the suspension, if suspended).
        record.expiresAt = (record.suspendedAt ?? now()) + addMs;
      }
      armDeadline(job);
      await persist(record);
      return { expiresAt: record.expiresAt };
    },

    async suspend(jobId) {
      const job = await lookup(jobId);
      requireState(job, 'RUNNING', 'suspend');
      signalRanks(job, 'SIGSTOP');
      job.record.suspendedAt = now();
      // The deadline pauses with the job.
      if (job.deadline) clearTimeout(job.deadline);
      job.deadline = null;
      change(job, { state: 'SUSPENDED', status: 'Job suspended' });
    },

    async unsuspend(jobId) {
      const job = await lookup(jobId);
      requireState(job, 'SUSPENDED', 'resume');
      const { record } = job;
      signalRanks(job, 'SIGCONT');
      const resumedAt = now();
      if (record.expiresAt !== null && record.suspendedAt !== null) record.expiresAt += resumedAt - record.suspendedAt;
      record.suspendedAt = null;
      change(job, {
        state: 'RUNNING',
        status: 'Job resumed',
        ...(record.expiresAt !== null ? { expiresAt: record.expiresAt } : {}),
      });
      armDeadline(job);
    },

    async observe(jobId) {
      return observation(jobId, jobs.get(jobId));
    },

    subschema() {
      return {
        typeDefs: LOCAL_SUBSCHEMA,
        resolvers: {
          Query: {
            _localJobs: (_: unknown, args: { ids: string[] }) =>
              args.ids.map((id) => {
                const job = jobs.get(id);
                if (!job) return null;
                return {
                  id,
                  local: {
                    host: hostname(),
                    pids: job.record.ranks.map((rank) => rank.pid),
                    exitCodes: job.record.ranks.map((rank) => rank.exitCode),
                  },
                };
              }),
            _localProviders: (_: unknown, args: { ids: string[] }) =>
              args.ids.map((id) =>
                id === ctx?.providerId
                  ? { id, localHost: { hostname: hostname(), cpus: cpus().length, memoryInGigs: totalmem() / 2 ** 30, loadAverage: loadavg() } }
                  : null,
              ),
          },
        },
      };
    },

    async stop() {
      // A create half-way through finishes first, so its processes are detached like the rest.
      await creating.allSettled();
      for (const job of jobs.values()) {
        clearTimers(job);
        if (job.finished) continue;
        // The processes keep running; the next start finds them and stops them.
        for (const detach of job.detachOutput) detach();
        job.detached = true;
        for (const child of job.children) child.unref();
      }
      await records.flush();
      jobs.clear();
      ctx = null;
    },
  };
}
