/**
 * The local provider: runs a job's command as processes on this host, one per
 * replica, each in a process group of its own so that signals reach whatever
 * the command started (process-groups.ts). Job records live as JSON files in
 * the state directory (the SDK's job book), so a restarted provider knows
 * which jobs ended and which lost their processes (orphans.ts).
 *
 * Isolation (DESIGN "Isolation", local-isolation.ts): every rank runs as an
 * unprivileged account, in a bubblewrap sandbox of its own (sandbox.ts: PID,
 * IPC, UTS, cgroup, mount and by default network namespaces, a private /tmp,
 * the state directory hidden), with the product's CPUs, memory and a process
 * count enforced by a cgroup of its own (cgroups.ts) or, where the host has no
 * writable cgroups, by rlimits. A rank is launched and watched by
 * rank-launch.ts; its output becomes log lines through rank-output.ts.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmod, chown, mkdir, realpath, stat } from 'node:fs/promises';
import { cpus, hostname, loadavg, totalmem } from 'node:os';
import { isAbsolute, join, sep } from 'node:path';

import {
  connectTcpSession,
  createDeadlineTimer,
  createJobBook,
  idSchema,
  InvalidInputError,
  InvalidStateError,
  isFinalState,
  must,
  requireActive,
  requireNotEnded,
  requireState,
  socketSession,
  STATUS,
  UnsupportedError,
  type CreateJob,
  type DeadlineTimer,
  type Driver,
  type DriverContext,
  type DriverSession,
  type DriverSessionRequest,
  type Manifest,
  type Product,
  type UnixAccount,
  type Utilization,
} from '../sdk/index.js';
import { dropCgroup, type Cgroups, type RankLimits } from './cgroups.js';
import { limitsName, setUpIsolation, type LimitsMode, type LocalIsolation } from './local-isolation.js';
import { LOCAL_PRODUCTS } from './local-products.js';
import { localJobRecordSchema, type LocalJobRecord, type RankRecord } from './local-records.js';
import { localSubschema } from './local-subschema.js';
import { localUtilization, type HostSize } from './local-utilization.js';
import { startNetForwarder, type NetForwarder } from './net-forwarder.js';
import { stopOrphanedRanks } from './orphans.js';
import { firstChild, processStartTicks, readBootId, signalGroup } from './process-groups.js';
import { closedOrTimeout, exitCodeNow, rankLimits, spawnRank, watchRank, type RankStart, type SpawnedRank } from './rank-launch.js';
import { pipeLines } from './rank-output.js';
import { SAFE_PATH, type JobNetwork, type SandboxMode } from './sandbox.js';
import { openShell } from './shell-session.js';

export type { LimitsMode } from './local-isolation.js';
export { LOCAL_PRODUCTS } from './local-products.js';

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
  /** The size the provider sells as its capacity (more than the host oversubscribes it, e.g. for jobs that mostly sleep). @default this host's CPUs and memory */
  hostSize?: HostSize;
}

const STATUS_RESTARTED = 'The local provider restarted while the job ran; its processes were stopped';
/** Pseudo file systems a working directory may not be in: binding one would show the host's processes or devices. */
const SYSTEM_DIRS = ['/proc', '/sys', '/dev'];

/** A job this driver start knows: its record plus what only lives in memory. */
interface LiveJob {
  record: LocalJobRecord;
  children: ChildProcess[];
  /** Ranks whose exit and output are both done. */
  closed: Set<number>;
  launched: boolean;
  finished: boolean;
  deadline: DeadlineTimer | null;
  kill: NodeJS.Timeout | null;
  /** Set by stop(): the processes are left running and no longer watched. */
  detached: boolean;
  detachOutput: Array<() => void>;
  /** What a shell in a rank needs to join it, known to the driver start that launched it; null for jobs read back. */
  launchedWith: { cwd: string; env: Record<string, string>[]; limits: RankLimits } | null;
  /** Shells open in the job: closed when it ends. */
  shells: Set<DriverSession>;
  /** WEB sessions' ways into the sandbox's network, by `rank:port`: closed when the job ends. */
  forwarders: Map<string, Promise<NetForwarder>>;
}

/** A job whose processes this driver start does not watch: one that ended, or one read back at start. */
const settledJob = (record: LocalJobRecord, closed: Set<number> = new Set()): LiveJob => ({
  record,
  children: [],
  closed,
  launched: true,
  finished: true,
  deadline: null,
  kill: null,
  detached: false,
  detachOutput: [],
  launchedWith: null,
  shells: new Set(),
  forwarders: new Map(),
});

/** A memory size for a status line: "64 MiB", "1 GiB". */
function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${Number((bytes / 2 ** 30).toFixed(2))} GiB`;
  return `${Number((bytes / 2 ** 20).toFixed(1))} MiB`;
}

const isWithin = (path: string, dir: string) => path === dir || path.startsWith(dir.endsWith(sep) ? dir : `${dir}${sep}`);

/** Create the local provider's driver. */
export function createLocalDriver(options: LocalDriverOptions): Driver {
  const { stateDir } = options;
  const terminateGraceMs = options.terminateGraceMs ?? 5_000;
  const products = [...(options.products ?? LOCAL_PRODUCTS)];
  const recordsDir = join(stateDir, 'jobs');
  const workDir = join(stateDir, 'work');
  const isolationOptions = {
    sandbox: options.sandbox ?? 'bwrap',
    bwrapPath: options.bwrapPath ?? '/usr/bin/bwrap',
    network: options.network ?? 'none',
    jobAccount: options.jobAccount,
    userAccounts: options.userAccounts,
    limits: options.limits ?? 'auto',
    cgroupParent: options.cgroupParent,
    pidsLimit: options.pidsLimit ?? 1024,
  } as const;

  let ctx: DriverContext | null = null;
  let driverInstance = '';
  let bootId: string | null = null;
  /** Set at start: the real path of the state directory, what jobs may not see. */
  let realStateDir = stateDir;
  /** Set at start: who jobs run as, whether the provider can switch to them, how their limits are enforced. */
  let isolation: LocalIsolation | null = null;
  const cgroups = (): Cgroups | null => isolation?.cgroups ?? null;

  const context = (): DriverContext => {
    if (!ctx) throw new Error('the local driver is not started');
    return ctx;
  };
  const now = () => context().clock.now();

  /** Every job this driver knows: launched now, or read back from disk. */
  const jobs = createJobBook<LocalJobRecord, LiveJob>({
    context,
    files: { dir: () => recordsDir, schema: localJobRecordSchema },
    // A launch that threw once ranks were spawned has left processes behind: its record stays.
    leftNothing: (job) => job.record.ranks.length === 0 && job.record.state === 'IN_QUEUE',
  });
  const change = jobs.change;

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
  const removeRankCgroup = (jobId: string, dirs: readonly string[]) =>
    dropCgroup(dirs, (error) => ctx?.logger.warn({ err: error, jobId, cgroups: dirs }, 'could not remove a rank cgroup'));

  const clearTimers = (job: LiveJob) => {
    job.deadline?.cancel();
    if (job.kill) clearTimeout(job.kill);
    job.deadline = null;
    job.kill = null;
  };

  /** TERM now, KILL after the grace; the exit handlers report the end. */
  const stopProcesses = (job: LiveJob, ending: 'TERMINATE' | 'EXPIRE') => {
    job.record.ending = ending;
    job.deadline?.cancel();
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
    job.deadline?.cancel();
    job.deadline = null;
    const { expiresAt } = job.record;
    if (expiresAt === null || job.finished || job.record.state !== 'RUNNING') return;
    job.deadline = createDeadlineTimer(context().clock, expiresAt, () => {
      job.deadline = null;
      if (job.finished || job.detached || job.record.state !== 'RUNNING') return;
      context().logger.info({ jobId: job.record.id }, 'time allocation reached; stopping the job');
      stopProcesses(job, 'EXPIRE');
    });
  };

  const closeForwarders = (job: LiveJob) => {
    for (const forwarder of job.forwarders.values()) void forwarder.then((f) => f.close()).catch(() => undefined);
    job.forwarders.clear();
  };

  /** A running rank whose processes are still there, and its sandbox's init (pid 1 of its namespaces; null without a sandbox). */
  const liveRank = async (request: DriverSessionRequest, doing: string) => {
    const job = await jobs.lookup(request.jobId);
    const { record } = job;
    requireState(record, 'RUNNING', doing);
    const rank = record.ranks.find((candidate) => candidate.rank === request.rank);
    if (!rank) throw new InvalidInputError(`Job ${record.id} has ranks 0 to ${record.ranks.length - 1}, not ${request.rank}`);
    const ended = () => new InvalidStateError(record.id, `Rank ${rank.rank} of job ${record.id} has ended`);
    if (job.closed.has(rank.rank) || (await processStartTicks(rank.pid)) !== rank.startTicks) throw ended();
    // The sandbox's init, bwrap's child: pid 1 of the job's namespaces.
    const namespacePid = isolation!.sandbox.mode === 'bwrap' ? await firstChild(rank.pid) : null;
    if (isolation!.sandbox.mode === 'bwrap' && namespacePid === null) throw ended();
    return { job, rank, namespacePid };
  };

  /**
   * A connection to the port a rank's app listens on: on the host's loopback when the job shares
   * the host's network (or runs without a sandbox), else inside its namespace through a forwarder.
   */
  const openWeb = async (request: DriverSessionRequest): Promise<DriverSession> => {
    const { port } = request;
    if (port === undefined) throw new InvalidInputError('A WEB session needs the port its app listens on');
    const { job, rank, namespacePid } = await liveRank(request, 'open a web session in');
    const what = `port ${port} of rank ${rank.rank} of job ${job.record.id}`;
    if (namespacePid === null || isolationOptions.network === 'host') {
      return (await connectTcpSession({ host: '127.0.0.1', port }, { jobId: job.record.id, description: what })).session;
    }
    const key = `${rank.rank}:${port}`;
    let forwarder = job.forwarders.get(key);
    if (!forwarder) {
      forwarder = startNetForwarder({
        namespacePid,
        port,
        socketDir: join(realStateDir, 'web'),
        enterUserNamespace: !isolation!.switchUser,
      });
      job.forwarders.set(key, forwarder);
      // A forwarder that did not start is tried again by the next session.
      forwarder.catch(() => job.forwarders.delete(key));
    }
    return socketSession(await (await forwarder).connect({ jobId: job.record.id, what }));
  };

  const maybeFinish = (job: LiveJob) => {
    if (!job.launched || job.finished || job.detached) return;
    if (job.closed.size < job.record.ranks.length) return;
    job.finished = true;
    clearTimers(job);
    // A shell without a sandbox would outlive the job (in one, its PID namespace ends with it).
    for (const shell of job.shells) shell.close();
    closeForwarders(job);
    const exitCode = job.record.ranks.map((rank) => rank.exitCode ?? 0).find((code) => code !== 0) ?? 0;
    job.record.suspendedAt = null;
    if (job.record.ending === 'EXPIRE') {
      change(job, { state: 'EXPIRED', status: STATUS.expired, exitCode });
    } else if (job.record.ending === 'TERMINATE') {
      change(job, { state: 'SUCCESS', status: STATUS.terminated(job.record.endingReason), exitCode });
    } else if (job.record.ranks.some((rank) => rank.outOfMemory)) {
      // As Slurm's OUT_OF_MEMORY: the limit is the product's, so the end is not the application's own.
      const limit = formatBytes(job.record.memoryInGigs * 2 ** 30);
      change(job, { state: 'FAILURE', status: `The job ran out of memory: it exceeded its limit of ${limit} per rank and was killed`, exitCode });
    } else {
      change(job, { state: 'SUCCESS', status: STATUS.finished(exitCode), exitCode });
    }
  };

  /** A rank's output, line by line, as the job's log lines. */
  const pipeRankOutput = (job: LiveJob, rank: number, spawned: SpawnedRank) => {
    const jobId = job.record.id;
    for (const kind of ['stdout', 'stderr'] as const) {
      job.detachOutput.push(pipeLines(spawned[kind], (text) => context().log(jobId, { rank, [kind]: text, timestamp: now() })));
    }
  };

  const watch = (job: LiveJob, spawned: SpawnedRank, rank: RankRecord) =>
    watchRank(spawned, rank, {
      detached: () => job.detached,
      dropCgroup: (dirs) => removeRankCgroup(job.record.id, dirs),
      closed: () => {
        if (job.closed.has(rank.rank)) return;
        job.closed.add(rank.rank);
        maybeFinish(job);
      },
    });

  const validate = async (job: CreateJob): Promise<{ product: Product; cwd: string | null }> => {
    const spec = job.specification;
    // The id names a file and a directory: never let it leave the state directory.
    if (!idSchema.safeParse(job.id).success) throw new InvalidInputError(`Invalid job id "${job.id}"`);
    const product = products.find((candidate) => candidate.id === job.product.id);
    if (!product) throw new InvalidInputError(`The local provider does not sell product ${job.product.id}`);
    if (!spec.command || spec.command.length === 0 || spec.command[0] === '') {
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
    if (isolation!.switchUser) await chown(dir, account.uid, account.gid);
  };

  const launch = async (job: CreateJob): Promise<LiveJob> => {
    const spec = job.specification;
    const validated = await validate(job);
    const account = isolation!.accounts.accountFor(job.owner.createdBy);
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
      launchedWith: null,
      shells: new Set(),
      forwarders: new Map(),
    };
    jobs.set(live);
    // Recorded before anything runs: a crash from here on leaves a record to reconcile.
    await jobs.save(live);

    const limits = rankLimits(validated.product, isolationOptions.pidsLimit);
    const setup = { cgroups: cgroups(), sandbox: isolation!.sandbox, logger: () => ctx?.logger };
    // Nothing of the provider's environment: a fixed PATH, HOME, what the specification sets, and ours.
    const env = Array.from({ length: spec.replicas }, (_, rank) => ({
      PATH: SAFE_PATH,
      HOME: cwd,
      ...(spec.env ?? {}),
      SWITCHYARD_JOB_ID: job.id,
      SWITCHYARD_RANK: String(rank),
      SWITCHYARD_REPLICAS: String(spec.replicas),
    }));
    live.launchedWith = { cwd, env, limits };
    const spawned = await Promise.all(
      env.map((rankEnv, rank) =>
        spawnRank(setup, { jobId: job.id, rank, account, cwd, writable: [cwd], env: rankEnv, command: spec.command!, limits }),
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
      watch(live, result.spawned, rankRecord);
      pipeRankOutput(live, rank, result.spawned);
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
          if (recorded) recorded.exitCode = await exitCodeNow(result.spawned);
        }
        if (result.cgroup) await removeRankCgroup(job.id, result.cgroup.dirs);
      }
      context().logger.info({ jobId: job.id, reason: failure.reason }, 'job could not start');
      change(live, { state: 'FAILURE', status: failure.reason });
      await jobs.saved(job.id);
      return live;
    }

    const record = live.record;
    record.startedAt = startedAt;
    record.expiresAt = spec.timeAllocationMs !== null ? startedAt + spec.timeAllocationMs : null;
    record.providerGeneratedId = String(must(record.ranks[0], 'the first rank of a started job').pid);
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
    await jobs.save(live);
    return live;
  };

  /** A job whose processes belonged to an earlier provider process: stop what is left of them, and end it. */
  const recoverOrphan = async (record: LocalJobRecord) => {
    await stopOrphanedRanks(record, bootId, { logger: context().logger, dropCgroup: removeRankCgroup });
    const job = settledJob({ ...record, suspendedAt: null }, new Set(record.ranks.map((rank) => rank.rank)));
    jobs.set(job);
    change(job, { state: 'FAILURE', status: STATUS_RESTARTED });
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
        isolation = await setUpIsolation(isolationOptions, realStateDir, driverContext.logger);
      } catch (error) {
        ctx = null;
        throw error;
      }
      for (const record of await jobs.readAll()) {
        if (isFinalState(record.state)) {
          // A crash between a rank's end and its cgroup's removal leaves the cgroup behind.
          await Promise.all(record.ranks.map((rank) => removeRankCgroup(record.id, rank.cgroups)));
          jobs.set(settledJob(record));
        } else {
          await recoverOrphan(record);
        }
      }
      await jobs.flush();
    },

    async manifest(): Promise<Manifest> {
      return { products: [...products] };
    },

    async utilization(): Promise<Utilization> {
      return localUtilization(
        products,
        [...jobs.values()].map((job) => job.record),
        now(),
        options.hostSize,
      );
    },

    create: (job) => jobs.create(job.id, () => launch(job)),

    async terminate(jobId, reason) {
      const job = await jobs.lookup(jobId);
      requireNotEnded(job.record);
      if (job.record.state === 'CANCELING') return;
      job.record.suspendedAt = null;
      job.record.endingReason = reason ?? null;
      change(job, { state: 'CANCELING', status: STATUS.terminating });
      stopProcesses(job, 'TERMINATE');
    },

    async extend(jobId, addMs) {
      const job = await jobs.lookup(jobId);
      const { record } = job;
      requireActive(record, 'extend');
      if (record.expiresAt !== null) {
        record.expiresAt += addMs;
      } else {
        // No deadline yet: it becomes addMs of running time from now (from the suspension, if suspended).
        record.expiresAt = (record.suspendedAt ?? now()) + addMs;
      }
      armDeadline(job);
      await jobs.save(job);
      return { expiresAt: record.expiresAt };
    },

    async suspend(jobId) {
      const job = await jobs.lookup(jobId);
      requireState(job.record, 'RUNNING', 'suspend');
      signalRanks(job, 'SIGSTOP');
      job.record.suspendedAt = now();
      // The deadline pauses with the job.
      job.deadline?.cancel();
      job.deadline = null;
      change(job, { state: 'SUSPENDED', status: STATUS.suspended });
    },

    async unsuspend(jobId) {
      const job = await jobs.lookup(jobId);
      requireState(job.record, 'SUSPENDED', 'resume');
      const { record } = job;
      signalRanks(job, 'SIGCONT');
      const resumedAt = now();
      if (record.expiresAt !== null && record.suspendedAt !== null) record.expiresAt += resumedAt - record.suspendedAt;
      record.suspendedAt = null;
      change(job, { state: 'RUNNING', status: STATUS.resumed, ...(record.expiresAt !== null ? { expiresAt: record.expiresAt } : {}) });
      armDeadline(job);
    },

    async observe(jobId) {
      return jobs.observe(jobId);
    },

    async openSession(request) {
      if (request.type === 'WEB') return openWeb(request);
      if (request.type !== 'SHELL') throw new UnsupportedError(`The local provider opens SHELL and WEB sessions only, not ${request.type}`);
      const { job, rank, namespacePid } = await liveRank(request, 'open a shell in');
      const { record } = job;
      const launched = job.launchedWith;
      if (!launched) throw new InvalidStateError(record.id, `Rank ${rank.rank} of job ${record.id} has ended`);
      const sandbox = isolation!.sandbox;
      const shell = openShell(
        sandbox,
        {
          namespacePid,
          account: record.account ?? isolation!.accounts.defaultAccount,
          cwd: launched.cwd,
          env: must(launched.env[rank.rank], `the environment of rank ${rank.rank}`),
          cgroupProcsFiles: rank.cgroups.map((dir) => join(dir, 'cgroup.procs')),
          rlimits: rank.cgroups.length > 0 ? null : { addressSpaceBytes: launched.limits.memoryBytes, processes: launched.limits.pids },
        },
        { cols: request.cols, rows: request.rows },
      );
      job.shells.add(shell);
      void shell.exit.then(() => job.shells.delete(shell));
      context().logger.info({ jobId: record.id, rank: rank.rank }, 'shell opened in the job');
      return shell;
    },

    subschema: () =>
      localSubschema({
        context: () => ctx,
        details: (id) => {
          const job = jobs.get(id);
          if (!job) return null;
          const { record } = job;
          return {
            host: hostname(),
            pids: record.ranks.map((rank) => rank.pid),
            exitCodes: record.ranks.map((rank) => rank.exitCode),
            uid: record.account?.uid ?? null,
            user: record.account?.name ?? null,
          };
        },
        host: () => ({
          hostname: hostname(),
          cpus: cpus().length,
          memoryInGigs: totalmem() / 2 ** 30,
          loadAverage: loadavg(),
          isolation: {
            sandbox: isolationOptions.sandbox,
            limits: limitsName(cgroups()),
            network: isolationOptions.network,
            switchesUser: isolation?.switchUser ?? false,
          },
        }),
      }),

    async stop() {
      // A create half-way through finishes first, so its processes are detached like the rest.
      await jobs.flush();
      for (const job of jobs.values()) {
        clearTimers(job);
        if (job.finished) continue;
        // The processes keep running; the next start finds them and stops them.
        for (const detach of job.detachOutput) detach();
        job.detached = true;
        for (const child of job.children) child.unref();
      }
      for (const job of jobs.values()) closeForwarders(job);
      await jobs.flush();
      jobs.clear();
      ctx = null;
    },
  };
}
