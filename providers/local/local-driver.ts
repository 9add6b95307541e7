/**
 * The local provider: runs a job's command as processes on this host, one per
 * replica, each in a process group of its own so that signals reach whatever
 * the command started. Job records live as JSON files in the state directory,
 * so a restarted provider knows which jobs ended and which lost their
 * processes.
 *
 * Isolation (DESIGN "Isolation"): every rank runs as an unprivileged account
 * (accounts: ../sdk/unix-accounts.ts), in a bubblewrap sandbox of its own
 * (sandbox.ts: PID, IPC, UTS, cgroup, mount and by default network
 * namespaces, a private /tmp, the state directory hidden), with the product's
 * CPUs, memory and a process count enforced by a cgroup of its own
 * (cgroups.ts) or, where the host has no writable cgroups, by rlimits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { access, chmod, chown, mkdir, readFile, realpath, stat } from 'node:fs/promises';
import { cpus, hostname, loadavg, constants as osConstants, totalmem, userInfo } from 'node:os';
import { isAbsolute, join, sep } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { z } from 'zod';

import { computeSupport, idSchema, jobStateSchema, type Manifest, type Product, type Utilization } from '../../shared/domain.js';
import { InvalidInputError, InvalidStateError, NotFoundError, UnsupportedError } from '../../shared/errors.js';
import { isFinalState, type JobState } from '../../shared/job-state-machine.js';
import type { CreateJob, JobObservation } from '../../shared/protocol.js';
import { createSingleFlight } from '../../shared/single-flight.js';
import type { Driver, DriverContext, DriverJobChange } from '../sdk/driver.js';
import { createJobRecordFiles } from '../sdk/job-records.js';
import { createAccountMap, describeAccount, type AccountMap, type UnixAccount } from '../sdk/unix-accounts.js';
import { cgroupOutOfMemory, detectCgroups, removeCgroup, type Cgroups, type RankCgroup, type RankLimits } from './cgroups.js';
import {
  ENV_FD,
  parseLauncherStatus,
  SAFE_PATH,
  sandboxCommand,
  STATUS_FD,
  type JobNetwork,
  type LauncherStatus,
  type SandboxMode,
  type SandboxOptions,
} from './sandbox.js';

/** How product sizes are enforced: cgroups where writable else rlimits, cgroups or refuse to start, or rlimits only. */
export type LimitsMode = 'auto' | 'cgroup' | 'rlimit';

export interface LocalDriverOptions {
  /** Where job records and per-job working directories live; survives restarts. */
  stateDir: string;
  /** How long a terminated or expired job gets between TERM and KILL. @default 5000 */
  terminateGraceMs?: number;
  /** The products sold. @default LOCAL_PRODUCTS */
  products?: Product[];
  /** How jobs are confined: `bwrap` (required unless told otherwise), or `none` (unsafe: the account and limits only). @default 'bwrap' */
  sandbox?: SandboxMode;
  /** Where bubblewrap is. @default '/usr/bin/bwrap' */
  bwrapPath?: string;
  /** The jobs' network: `none` (loopback of their own) or `host` (the host's, with its loopback services). @default 'none' */
  network?: JobNetwork;
  /** The account (name, uid or uid:gid) of jobs whose user is not in `userAccounts`; used when the provider runs as root. @default 'nobody' */
  jobAccount?: string;
  /** Switchyard user (the job's owner.createdBy) → Unix account. @default {} */
  userAccounts?: Record<string, string>;
  /** How product sizes are enforced. @default 'auto' */
  limits?: LimitsMode;
  /** A cgroup path to make rank cgroups under. @default the provider's own cgroup */
  cgroupParent?: string;
  /** Processes (and threads) one rank may have at once. @default 1024 */
  pidsLimit?: number;
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
/** How long a rank's launcher may take to report before the rank counts as not started. */
const LAUNCH_TIMEOUT_MS = 30_000;
/** Pseudo file systems a working directory may not be in: binding one would show the host's processes or devices. */
const SYSTEM_DIRS = ['/proc', '/sys', '/dev'];
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
    "The Unix account its processes run as."
    uid: Int
    "That account's name, if it has one."
    user: String
  }
  "How a local provider confines its jobs."
  type LocalIsolation {
    "bwrap (namespaces and a private file system view) or none (unsafe)."
    sandbox: String!
    "How product sizes are enforced: cgroup-v1, cgroup-v2 or rlimit."
    limits: String!
    "The jobs' network: none (loopback only) or host."
    network: String!
    "Whether jobs run as an account other than the provider's (the provider runs as root)."
    switchesUser: Boolean!
  }
  type LocalHostInfo {
    hostname: String!
    cpus: Int!
    memoryInGigs: Float!
    "1, 5 and 15 minute load averages."
    loadAverage: [Float!]!
    isolation: LocalIsolation!
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
  /** The rank's cgroup directories, removed when it ends (or by the next start). */
  cgroups: z.array(z.string()).default([]),
  /** The kernel killed a process of the rank for exceeding its memory. */
  outOfMemory: z.boolean().default(false),
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
  /** The account the ranks run as. */
  account: z.object({ uid: z.number().int(), gid: z.number().int(), name: z.string().nullable() }).nullable().default(null),
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

/** The error the launcher reported, as Node would have named it (2 → ENOENT). */
function execError(status: Extract<LauncherStatus, { outcome: 'exec-failed' }>): NodeJS.ErrnoException {
  const code = Object.entries(osConstants.errno).find(([, value]) => value === status.errno)?.[0];
  return Object.assign(new Error(status.message || `errno ${status.errno}`), code ? { code } : {});
}

/** A memory size for a status line: "64 MiB", "1 GiB". */
function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${Number((bytes / 2 ** 30).toFixed(2))} GiB`;
  return `${Number((bytes / 2 ** 20).toFixed(1))} MiB`;
}

/** The first lines of a process's error output, for a status line. */
function firstLines(text: string, lines = 3): string {
  const joined = text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .slice(0, lines)
    .join(' / ');
  return joined.length > 400 ? `${joined.slice(0, 399)}…` : joined;
}

const isWithin = (path: string, dir: string) => path === dir || path.startsWith(dir.endsWith(sep) ? dir : `${dir}${sep}`);

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

/** Output held for a rank not yet handed to its job; more than this is dropped (the job is failing anyway). */
const MAX_HELD_CHARS = 1024 * 1024;

/** A rank's stdout or stderr, read from the moment it is spawned and held until the driver passes it on. */
interface OutputTap {
  /** Pass held and further output to `onData`; `onEnd` once the stream ends. */
  attach(onData: (chunk: string) => void, onEnd: () => void): void;
  /** Stop passing output on and close the stream. */
  detach(): void;
  /** What is held (for the error output of a rank that did not start). */
  held(): string;
}

function tapOutput(stream: Readable, onError: (error: Error) => void): OutputTap {
  let held: string[] = [];
  let heldChars = 0;
  let ended = false;
  let sink: { onData: (chunk: string) => void; onEnd: () => void } | null = null;
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    if (sink) return sink.onData(chunk);
    if (heldChars + chunk.length > MAX_HELD_CHARS) return;
    held.push(chunk);
    heldChars += chunk.length;
  });
  stream.on('end', () => {
    ended = true;
    sink?.onEnd();
  });
  stream.on('error', onError);
  return {
    attach(onData, onEnd) {
      sink = { onData, onEnd };
      for (const chunk of held) onData(chunk);
      held = [];
      if (ended) onEnd();
    },
    detach() {
      sink = null;
      stream.destroy();
    },
    held: () => held.join(''),
  };
}

/**
 * A spawned rank, watched from the start: a fast command may exit, and Node
 * drain its unread output, before the driver has decided what to do with it.
 */
interface SpawnedRank {
  child: ChildProcess;
  stdout: OutputTap;
  stderr: OutputTap;
  /** Its exit code (128 + N for a signal N). */
  exited: Promise<number>;
  /** Exited, and its output closed. */
  closed: Promise<void>;
}

/** Resolves when the rank has exited and its output closed, or after `ms`. */
function closedOrTimeout(rank: SpawnedRank, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    void rank.closed.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** A rank as spawned: running, or not started, and why. */
type RankStart =
  | { ok: true; spawned: SpawnedRank; cgroup: RankCgroup | null }
  | { ok: false; spawned: SpawnedRank | null; cgroup: RankCgroup | null; reason: string };

/** Create the local provider's driver. */
export function createLocalDriver(options: LocalDriverOptions): Driver {
  const { stateDir } = options;
  const terminateGraceMs = options.terminateGraceMs ?? 5_000;
  const products = [...(options.products ?? LOCAL_PRODUCTS)];
  const recordsDir = join(stateDir, 'jobs');
  const workDir = join(stateDir, 'work');
  const sandboxMode = options.sandbox ?? 'bwrap';
  const bwrapPath = options.bwrapPath ?? '/usr/bin/bwrap';
  const network = options.network ?? 'none';
  const limitsMode = options.limits ?? 'auto';
  const pidsLimit = options.pidsLimit ?? 1024;

  let ctx: DriverContext | null = null;
  let driverInstance = '';
  let bootId: string | null = null;
  /** Set at start: the real path of the state directory, what jobs may not see. */
  let realStateDir = stateDir;
  /** Set at start: who jobs run as, whether the provider can switch to them, how their limits are enforced. */
  let accounts: AccountMap | null = null;
  let switchUser = false;
  let cgroups: Cgroups | null = null;
  /** Every job this driver knows: launched now, or read back from disk. */
  const jobs = new Map<string, LiveJob>();
  const creating = createSingleFlight<{ providerGeneratedId: string | null }>();
  /** One write chain per job, so records land in the order they were made. */

  const context = (): DriverContext => {
    if (!ctx) throw new Error('the local driver is not started');
    return ctx;
  };
  const now = () => context().clock.now();
  const limitsName = () => (cgroups ? `cgroup-${cgroups.version}` : 'rlimit');
  const sandboxOptions = (): SandboxOptions => ({ mode: sandboxMode, bwrapPath, network, hidden: [realStateDir], switchUser });

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

  /** Remove a rank's cgroup; a failure is logged (the next start tries again). */
  const dropCgroup = async (jobId: string, dirs: readonly string[]) => {
    if (dirs.length === 0) return;
    try {
      await removeCgroup(dirs);
    } catch (error) {
      ctx?.logger.warn({ err: error, jobId, cgroups: dirs }, 'could not remove a rank cgroup');
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
    } else if (job.record.ranks.some((rank) => rank.outOfMemory)) {
      // As Slurm's OUT_OF_MEMORY: the limit is the product's, so the end is not the application's own.
      const limit = formatBytes(job.record.memoryInGigs * 2 ** 30);
      change(job, { state: 'FAILURE', status: `The job ran out of memory: it exceeded its limit of ${limit} per rank and was killed`, exitCode });
    } else {
      change(job, { state: 'SUCCESS', status: `Job finished with exit code ${exitCode}`, exitCode });
    }
  };

  /** Pass a rank's output on as log lines; a partial last line goes out when the stream ends. */
  const pipeLines = (job: LiveJob, rank: number, tap: OutputTap, kind: 'stdout' | 'stderr') => {
    let partial = '';
    const jobId = job.record.id;
    const send = (text: string) => context().log(jobId, { rank, [kind]: text, timestamp: now() });
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
    tap.attach(onData, onEnd);
    job.detachOutput.push(() => {
      tap.detach();
      onEnd();
    });
  };

  const watchRank = (job: LiveJob, spawned: SpawnedRank, rank: RankRecord) => {
    let closeTimer: NodeJS.Timeout | null = null;
    /** Whether the kernel killed it for its memory, read from its cgroup before the cgroup goes. */
    let exitChecked: Promise<void> = Promise.resolve();
    let done = false;
    const closed = () => {
      if (closeTimer) clearTimeout(closeTimer);
      if (done) return;
      done = true;
      void exitChecked
        .then(() => dropCgroup(job.record.id, rank.cgroups))
        .then(() => {
          if (job.closed.has(rank.rank)) return;
          job.closed.add(rank.rank);
          maybeFinish(job);
        });
    };
    // Registered in this order: the exit is handled before the close, even when both have happened.
    void spawned.exited.then((code) => {
      rank.exitCode = code;
      if (job.detached) return;
      if (rank.cgroups.length > 0) {
        exitChecked = cgroupOutOfMemory(rank.cgroups).then((oom) => {
          rank.outOfMemory = oom;
        });
      }
      // Something the rank started still holds its output open: the job is over, so end it.
      closeTimer = setTimeout(() => {
        try {
          signalGroup(rank.pgid, 'SIGKILL');
        } catch {
          // Gone or not ours: nothing left to stop.
        }
        spawned.stdout.detach();
        spawned.stderr.detach();
        closed();
      }, OUTPUT_CLOSE_MS);
      closeTimer.unref();
    });
    void spawned.closed.then(() => {
      if (!job.detached) closed();
    });
  };

  /** The size one rank may use: the product's CPUs and memory, and the provider's process limit. */
  const limitsOf = (product: Product): RankLimits => ({ cpu: product.cpu, memoryBytes: product.memoryInGigs * 2 ** 30, pids: pidsLimit });

  /**
   * Spawn one rank in its sandbox and wait for its launcher's report: running,
   * or not started (its command cannot be executed, or the sandbox could not
   * be set up). Its output is held meanwhile, so no line is lost.
   */
  const spawnRank = async (options: {
    jobId: string;
    rank: number;
    account: UnixAccount;
    cwd: string;
    writable: string[];
    env: Record<string, string>;
    command: string[];
    limits: RankLimits;
  }): Promise<RankStart> => {
    let cgroup: RankCgroup | null = null;
    if (cgroups) {
      try {
        cgroup = await cgroups.create(`sy-${options.jobId}-${options.rank}`, options.limits);
      } catch (error) {
        return { ok: false, spawned: null, cgroup: null, reason: `Could not set up the job's limits: ${(error as Error).message}` };
      }
    }
    const command = sandboxCommand(sandboxOptions(), {
      account: options.account,
      cwd: options.cwd,
      writable: options.writable,
      env: options.env,
      command: options.command,
      cgroup,
      rlimits: cgroup ? null : { addressSpaceBytes: options.limits.memoryBytes, processes: options.limits.pids },
      tmpfsBytes: options.limits.memoryBytes,
    });
    // detached: the rank leads its own process group (and session), so signals to -pid reach its children too.
    const child = spawn(command.file, command.args, {
      detached: true,
      cwd: command.spawnCwd,
      env: command.env,
      stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
    });
    const spawnError = await new Promise<Error | null>((resolve) => {
      child.once('error', resolve);
      child.once('spawn', () => {
        child.off('error', resolve);
        resolve(null);
      });
    });
    if (spawnError) {
      const reason = `The job's sandbox could not be started: ${spawnFailureReason(spawnError as NodeJS.ErrnoException)}`;
      return { ok: false, spawned: null, cgroup, reason };
    }
    const logError = (error: Error) => ctx?.logger.warn({ err: error, jobId: options.jobId, rank: options.rank }, 'process error');
    // Later errors (a failed kill) must not crash the provider.
    child.on('error', logError);
    const spawned: SpawnedRank = {
      child,
      stdout: tapOutput(child.stdout!, logError),
      stderr: tapOutput(child.stderr!, logError),
      exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 + signalNumber(signal) : 1)))),
      closed: new Promise((resolve) => child.once('close', () => resolve())),
    };
    const envPipe = child.stdio[ENV_FD] as Writable;
    // A sandbox that died at once has no reader: EPIPE is its problem, reported below.
    envPipe.on('error', () => undefined);
    envPipe.end(command.envPayload);
    const statusPipe = child.stdio[STATUS_FD] as Readable;
    const report = await new Promise<string>((resolve) => {
      let text = '';
      const timer = setTimeout(() => resolve(text), LAUNCH_TIMEOUT_MS);
      statusPipe.setEncoding('utf8');
      statusPipe.on('data', (chunk: string) => (text += chunk));
      statusPipe.on('error', () => undefined);
      statusPipe.once('close', () => {
        clearTimeout(timer);
        resolve(text);
      });
    });
    statusPipe.destroy();
    const status = parseLauncherStatus(report);
    if (status.outcome === 'running') return { ok: true, spawned, cgroup };
    if (status.outcome === 'exec-failed') {
      return { ok: false, spawned, cgroup, reason: `Could not start "${options.command[0]}": ${spawnFailureReason(execError(status))}` };
    }
    // bwrap, setpriv or the cgroup join failed: what they said is on stderr.
    await closedOrTimeout(spawned, 2_000);
    const code = await Promise.race([spawned.exited, Promise.resolve(null)]);
    return {
      ok: false,
      spawned,
      cgroup,
      reason: `The job's sandbox could not be set up: ${firstLines(spawned.stderr.held()) || `exit code ${code}`}`,
    };
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
    if (spec.command.some((word) => word.includes('\0'))) throw new InvalidInputError('The command must not contain NUL characters');
    if (spec.replicas > product.support.maxReplicas) {
      throw new InvalidInputError(`The local provider runs at most ${product.support.maxReplicas} replicas of ${product.id}`);
    }
    for (const [key, value] of Object.entries(spec.env ?? {})) {
      if (key.length === 0 || key.includes('=') || key.includes('\0')) throw new InvalidInputError(`Invalid environment variable name "${key}"`);
      if (value.includes('\0')) throw new InvalidInputError(`Environment variable ${key} must not contain NUL characters`);
    }
    if (spec.workingDir === null) return { product, cwd: null };
    if (!isAbsolute(spec.workingDir)) throw new InvalidInputError(`The working directory must be an absolute path: ${spec.workingDir}`);
    const info = await stat(spec.workingDir).catch(() => null);
    if (!info?.isDirectory()) throw new InvalidInputError(`The working directory ${spec.workingDir} does not exist on the provider host`);
    // Symlinks resolved: the checks and the sandbox's bind see the directory itself.
    const real = await realpath(spec.workingDir);
    if (isWithin(real, realStateDir) || isWithin(realStateDir, real)) {
      throw new InvalidInputError(
        `The working directory ${spec.workingDir} is the local provider's state directory, or holds it; jobs may not use it`,
      );
    }
    if (SYSTEM_DIRS.some((dir) => isWithin(real, dir))) {
      throw new InvalidInputError(`The working directory ${spec.workingDir} is a system directory; jobs may not use it`);
    }
    return { product, cwd: real };
  };

  /** The job's own work directory: its account's alone (0700). */
  const makeWorkDir = async (dir: string, account: UnixAccount) => {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    if (switchUser) await chown(dir, account.uid, account.gid);
  };

  const launch = async (job: CreateJob): Promise<{ providerGeneratedId: string | null }> => {
    const spec = job.specification;
    const validated = await validate(job);
    const account = accounts!.accountFor(job.owner.createdBy);
    const cwd = validated.cwd ?? join(workDir, job.id);
    if (validated.cwd === null) await makeWorkDir(cwd, account);

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
        account: { uid: account.uid, gid: account.gid, name: account.name },
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

    const limits = limitsOf(validated.product);
    const spawned = await Promise.all(
      Array.from({ length: spec.replicas }, (_, rank) =>
        spawnRank({
          jobId: job.id,
          rank,
          account,
          cwd,
          writable: [cwd],
          // Nothing of the provider's environment: a fixed PATH, HOME, what the specification sets, and ours.
          env: {
            PATH: SAFE_PATH,
            HOME: cwd,
            ...(spec.env ?? {}),
            SWITCHYARD_JOB_ID: job.id,
            SWITCHYARD_RANK: String(rank),
            SWITCHYARD_REPLICAS: String(spec.replicas),
          },
          command: spec.command!,
          limits,
        }),
      ),
    );
    const failure = spawned.find((result): result is Extract<RankStart, { ok: false }> => !result.ok);
    const startedAt = now();
    for (const [rank, result] of spawned.entries()) {
      if (!result.spawned) continue;
      const pid = result.spawned.child.pid!;
      const rankRecord: RankRecord = {
        rank,
        pid,
        pgid: pid,
        startTicks: null,
        exitCode: null,
        cgroups: result.cgroup?.dirs ?? [],
        outOfMemory: false,
      };
      live.record.ranks.push(rankRecord);
      live.children.push(result.spawned.child);
      if (failure) continue;
      watchRank(live, result.spawned, rankRecord);
      pipeLines(live, rank, result.spawned.stdout, 'stdout');
      pipeLines(live, rank, result.spawned.stderr, 'stderr');
    }

    if (failure) {
      // Whatever did start goes again: a job runs all its ranks or none.
      live.record.ending = 'TERMINATE';
      live.finished = true;
      signalRanks(live, 'SIGKILL');
      for (const [rank, result] of spawned.entries()) {
        if (result.spawned) {
          await closedOrTimeout(result.spawned, 2_000);
          const recorded = live.record.ranks.find((r) => r.rank === rank);
          if (recorded) recorded.exitCode = await Promise.race([result.spawned.exited, Promise.resolve(null)]);
        }
        if (result.cgroup) await dropCgroup(job.id, result.cgroup.dirs);
      }
      context().logger.info({ jobId: job.id, reason: failure.reason }, 'job could not start');
      change(live, { state: 'FAILURE', status: failure.reason });
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
    // Whatever left the process group is still in the rank's cgroup: removing it kills that too.
    if (record.bootId === null || record.bootId === bootId) {
      await Promise.all(record.ranks.map((rank) => dropCgroup(record.id, rank.cgroups)));
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

  /** Run `true` through the whole chain once: a sandbox that cannot start is found now, not by the first job. */
  const checkSandbox = async (account: UnixAccount) => {
    const started = await spawnRank({
      jobId: `sandbox-check-${randomUUID()}`,
      rank: 0,
      account,
      cwd: '/',
      writable: [],
      env: { PATH: SAFE_PATH },
      command: ['true'],
      limits: { cpu: 0, memoryBytes: 0, pids: pidsLimit },
    });
    if (started.spawned) await closedOrTimeout(started.spawned, 10_000);
    if (started.cgroup) await dropCgroup('sandbox-check', started.cgroup.dirs);
    const code = started.spawned ? await Promise.race([started.spawned.exited, Promise.resolve(null)]) : null;
    if (!started.ok || code !== 0) {
      if (started.spawned?.child.pid) signalGroup(started.spawned.child.pid, 'SIGKILL');
      const why = started.ok ? `a test command ended with ${code ?? 'no exit code'}: ${firstLines(started.spawned.stderr.held())}` : started.reason;
      throw new UnsupportedError(
        `The local provider cannot run jobs in its sandbox (${sandboxMode === 'bwrap' ? bwrapPath : 'setpriv'}): ${why}. ` +
          'bwrap needs a kernel that allows namespaces (as root, or unprivileged user namespaces otherwise).',
      );
    }
  };

  /** Who jobs run as, decided once at start. */
  const setUpAccounts = async () => {
    switchUser = process.getuid?.() === 0;
    if (switchUser) {
      accounts = await createAccountMap({ defaultAccount: options.jobAccount, users: options.userAccounts });
      const mapped = Object.keys(options.userAccounts ?? {}).length;
      context().logger.info({ defaultAccount: describeAccount(accounts.defaultAccount), mappedUsers: mapped }, 'jobs run as unprivileged accounts');
      return;
    }
    // Not root: it cannot become another account, so jobs run as the provider's own, still sandboxed.
    let name: string | null = null;
    try {
      name = userInfo().username;
    } catch {
      // A uid without a passwd entry (some containers).
    }
    const own: UnixAccount = { uid: process.getuid?.() ?? -1, gid: process.getgid?.() ?? -1, name };
    accounts = { defaultAccount: own, accountFor: () => own, accounts: () => [own] };
    context().logger.warn(
      { account: describeAccount(own), ignoredSettings: options.jobAccount !== undefined || Object.keys(options.userAccounts ?? {}).length > 0 },
      'the local provider is not root: it cannot switch accounts, so jobs run as the provider’s own account (sandboxed all the same)',
    );
  };

  const setUpLimits = async () => {
    cgroups = null;
    if (limitsMode !== 'rlimit') {
      const found = await detectCgroups({ parent: options.cgroupParent });
      if (found.cgroups) {
        cgroups = found.cgroups;
      } else if (limitsMode === 'cgroup') {
        throw new UnsupportedError(`The local provider was told to enforce job limits with cgroups, but cannot: ${found.reason}`);
      } else {
        context().logger.warn(
          { reason: found.reason },
          'no writable cgroups: job limits are rlimits (address space and processes per account; CPUs are not enforced)',
        );
      }
    }
    if (cgroups) context().logger.info({ limits: limitsName(), parents: cgroups.parents, pidsLimit }, 'job limits are enforced with cgroups');
    else context().logger.info({ limits: 'rlimit', pidsLimit }, 'job limits are enforced with rlimits');
  };

  const setUpSandbox = async () => {
    if (sandboxMode === 'bwrap') {
      const found = await access(bwrapPath).then(
        () => true,
        () => false,
      );
      if (!found) {
        throw new UnsupportedError(
          `The local provider sandboxes jobs with bubblewrap, but ${bwrapPath} does not exist. Install it (Debian: apt-get install bubblewrap), ` +
            'or set SWITCHYARD_LOCAL_SANDBOX=none to run jobs without a sandbox (unsafe: they then see the host’s processes, files and network).',
        );
      }
    } else {
      context().logger.warn('SWITCHYARD_LOCAL_SANDBOX=none: jobs run without namespaces and see the host’s processes, files and network (unsafe)');
    }
    await checkSandbox(accounts!.defaultAccount);
    context().logger.info({ sandbox: sandboxMode, network, stateDir: realStateDir }, 'jobs run sandboxed');
  };

  return {
    async start(driverContext) {
      ctx = driverContext;
      driverInstance = randomUUID();
      bootId = await readBootId();
      jobs.clear();
      await mkdir(recordsDir, { recursive: true });
      await mkdir(workDir, { recursive: true });
      // Records are the provider's alone; work directories can be entered (by their own job) but not listed.
      await chmod(stateDir, 0o711);
      await chmod(recordsDir, 0o700);
      await chmod(workDir, 0o711);
      realStateDir = await realpath(stateDir);
      try {
        await setUpAccounts();
        await setUpLimits();
        await setUpSandbox();
      } catch (error) {
        ctx = null;
        throw error;
      }
      for (const record of await readRecords()) {
        if (isFinalState(record.state)) {
          // A crash between a rank's end and its cgroup's removal leaves the cgroup behind.
          await Promise.all(record.ranks.map((rank) => dropCgroup(record.id, rank.cgroups)));
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
                    uid: job.record.account?.uid ?? null,
                    user: job.record.account?.name ?? null,
                  },
                };
              }),
            _localProviders: (_: unknown, args: { ids: string[] }) =>
              args.ids.map((id) =>
                id === ctx?.providerId
                  ? {
                      id,
                      localHost: {
                        hostname: hostname(),
                        cpus: cpus().length,
                        memoryInGigs: totalmem() / 2 ** 30,
                        loadAverage: loadavg(),
                        isolation: { sandbox: sandboxMode, limits: limitsName(), network, switchesUser: switchUser },
                      },
                    }
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
