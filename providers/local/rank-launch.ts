/**
 * One rank of a local job, launched: its cgroup made, its sandbox spawned as
 * the leader of a process group of its own, its environment handed over on a
 * pipe, and the launcher's report read — running, or not started and why —
 * with its output held meanwhile so that no line is lost. Then watched to its
 * end: its exit code, whether the kernel killed it for its memory, and its
 * output closed (or cut, when something it started holds the pipes open).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';

import type { Logger, Product, UnixAccount } from '../sdk/index.js';
import { cgroupOutOfMemory, type Cgroups, type RankCgroup, type RankLimits } from './cgroups.js';
import type { RankRecord } from './local-records.js';
import { exitCodeOf, signalGroup } from './process-groups.js';
import { tapOutput, type OutputTap } from './rank-output.js';
import { ENV_FD, parseLauncherStatus, sandboxCommand, STATUS_FD, type LauncherStatus, type SandboxOptions } from './sandbox.js';

/** How long a rank's launcher may take to report before the rank counts as not started. */
const LAUNCH_TIMEOUT_MS = 30_000;
/** How long a rank's output may stay open after it exited (a background child holding the pipe). */
const OUTPUT_CLOSE_MS = 500;

/**
 * A spawned rank, watched from the start: a fast command may exit, and Node
 * drain its unread output, before the driver has decided what to do with it.
 */
export interface SpawnedRank {
  child: ChildProcess;
  stdout: OutputTap;
  stderr: OutputTap;
  /** Its exit code (128 + N for a signal N). */
  exited: Promise<number>;
  /** Exited, and its output closed. */
  closed: Promise<void>;
}

/** A rank as spawned: running, or not started, and why. */
export type RankStart =
  | { ok: true; spawned: SpawnedRank; cgroup: RankCgroup | null }
  | { ok: false; spawned: SpawnedRank | null; cgroup: RankCgroup | null; reason: string };

/** How the provider confines ranks, decided at its start. */
export interface RankSetup {
  /** Where rank cgroups are made; null where limits are rlimits. */
  cgroups: Cgroups | null;
  sandbox: SandboxOptions;
  /** The logger for a rank's process errors, which may come after the driver stopped. */
  logger: () => Logger | undefined;
}

export interface RankSpawnOptions {
  jobId: string;
  rank: number;
  account: UnixAccount;
  cwd: string;
  writable: string[];
  env: Record<string, string>;
  command: string[];
  limits: RankLimits;
}

/** The size one rank may use: the product's CPUs and memory, and the provider's process limit. */
export function rankLimits(product: Product, pids: number): RankLimits {
  return { cpu: product.cpu, memoryBytes: product.memoryInGigs * 2 ** 30, pids };
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

/** The first lines of a process's error output, for a status line. */
export function firstLines(text: string, lines = 3): string {
  const joined = text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .slice(0, lines)
    .join(' / ');
  return joined.length > 400 ? `${joined.slice(0, 399)}…` : joined;
}

/** Resolves when the rank has exited and its output closed, or after `ms`. */
export function closedOrTimeout(rank: SpawnedRank, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    void rank.closed.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** The rank's exit code if it has exited by now, else null. */
export function exitCodeNow(rank: SpawnedRank): Promise<number | null> {
  return Promise.race([rank.exited, Promise.resolve(null)]);
}

/**
 * Spawn one rank in its sandbox and wait for its launcher's report: running,
 * or not started (its command cannot be executed, or the sandbox could not
 * be set up). Its output is held meanwhile, so no line is lost.
 */
export async function spawnRank(setup: RankSetup, options: RankSpawnOptions): Promise<RankStart> {
  let cgroup: RankCgroup | null = null;
  if (setup.cgroups) {
    try {
      cgroup = await setup.cgroups.create(`sy-${options.jobId}-${options.rank}`, options.limits);
    } catch (error) {
      return { ok: false, spawned: null, cgroup: null, reason: `Could not set up the job's limits: ${(error as Error).message}` };
    }
  }
  const command = sandboxCommand(setup.sandbox, {
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
  const logError = (error: Error) => setup.logger()?.warn({ err: error, jobId: options.jobId, rank: options.rank }, 'process error');
  // Later errors (a failed kill) must not crash the provider.
  child.on('error', logError);
  const spawned: SpawnedRank = {
    child,
    stdout: tapOutput(child.stdout!, logError),
    stderr: tapOutput(child.stderr!, logError),
    exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve(exitCodeOf(code, signal)))),
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
  const code = await exitCodeNow(spawned);
  return {
    ok: false,
    spawned,
    cgroup,
    reason: `The job's sandbox could not be set up: ${firstLines(spawned.stderr.held()) || `exit code ${code}`}`,
  };
}

export interface RankWatch {
  /** Whether the driver let go of the rank (it stopped): its end is then the next start's to find. */
  detached(): boolean;
  /** Remove the rank's cgroup once it ended. */
  dropCgroup(dirs: readonly string[]): Promise<void>;
  /** The rank has exited and its output is closed; its record holds the exit code. */
  closed(): void;
}

/** Watch a running rank to its end, writing its exit code and memory verdict into its record. */
export function watchRank(spawned: SpawnedRank, rank: RankRecord, watch: RankWatch): void {
  let closeTimer: NodeJS.Timeout | null = null;
  /** Whether the kernel killed it for its memory, read from its cgroup before the cgroup goes. */
  let exitChecked: Promise<void> = Promise.resolve();
  let done = false;
  const closed = () => {
    if (closeTimer) clearTimeout(closeTimer);
    if (done) return;
    done = true;
    void exitChecked.then(() => watch.dropCgroup(rank.cgroups)).then(() => watch.closed());
  };
  // Registered in this order: the exit is handled before the close, even when both have happened.
  void spawned.exited.then((code) => {
    rank.exitCode = code;
    if (watch.detached()) return;
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
    if (!watch.detached()) closed();
  });
}
