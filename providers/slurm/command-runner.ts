/**
 * Runs the Slurm provider's commands in small processes of their own
 * (command-runner-process.ts), so that the provider's event loop never
 * forks: fork() copies the page tables of the process that calls it, and a
 * provider of a few hundred MB spends milliseconds of its event loop on every
 * sbatch, squeue and sacct — most of its time under a burst of submissions.
 *
 * A runner's spawn() also waits until the new process has exec'd, and on a
 * busy host that wait is the scheduler's: one runner launches commands one
 * after another, milliseconds apart. So there are a few runners, and each
 * command goes to the one with the fewest under way. A command with a limit
 * (at most 16 sbatch at once) waits for its turn in its runner, which holds
 * its share of the limit: the next starts the moment one ends. The runners
 * start at the first command that needs them; where one cannot start,
 * commands run in this process as before (and a warning says so).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import type { Logger } from '../sdk/index.js';
import type { RunnerAnswer } from './command-runner-process.js';
import { createConcurrencyLimit } from './concurrency-limit.js';
import { runCommand, type CommandOutcome, type CommandRequest } from './run-command.js';

/** How long the runner process may take to start before commands run here instead. */
const READY_TIMEOUT_MS = 15_000;
/** How much longer than its own timeout a command may take to be answered (the runner itself is stuck). */
const ANSWER_GRACE_MS = 5_000;

export interface CommandRunnerOptions {
  logger?: () => Logger | undefined;
  /** How many runner processes launch commands side by side. @default 2 */
  processes?: number;
  /** At most this many of a command at once, over all runners (e.g. `{ sbatch: 16 }`); the others wait their turn. @default none */
  limits?: Record<string, number>;
}

export interface CommandRunner {
  /** Run a command to its end; never rejects. */
  run(request: CommandRequest, signal?: AbortSignal): Promise<CommandOutcome>;
  /** Stop the runner processes; a later command starts them again. */
  close(): Promise<void>;
}

/** The runner's entry: the .ts source under tsx (which it then needs too), or a built .js. */
function runnerEntry(): { path: string; execArgv: string[] } {
  const own = fileURLToPath(import.meta.url);
  const path = fileURLToPath(new URL(`./command-runner-process${extname(own)}`, import.meta.url));
  if (!path.endsWith('.ts')) return { path, execArgv: [] };
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return { path, execArgv: ['--import', tsx] };
}

/** Split each limit over `count` runners: their shares add up to it, the first ones taking the rest. */
export function limitShares(limits: Record<string, number>, count: number): Record<string, number>[] {
  return Array.from({ length: count }, (_, index) =>
    Object.fromEntries(Object.entries(limits).map(([command, max]) => [command, Math.floor(max / count) + (index < max % count ? 1 : 0)])),
  );
}

/** One runner process, started at its first command and again after it has gone. */
interface RunnerSlot {
  /** Its share of each limit. */
  readonly limits: Record<string, number>;
  /** Commands given to it and not answered yet. */
  readonly underWay: number;
  /** Run a command there; null when the process could not start (run it elsewhere). */
  run(request: CommandRequest, signal?: AbortSignal): Promise<CommandOutcome | null>;
  close(): Promise<void>;
}

interface Pending {
  /** The runner process the command was sent to. */
  runner: ChildProcess;
  resolve(outcome: CommandOutcome): void;
  /** It waits for its turn there, or has it now: its time runs only while it runs. */
  queued(): void;
  started(): void;
}

function createRunnerSlot(limits: Record<string, number>, options: CommandRunnerOptions, onUnusable: () => void): RunnerSlot {
  let child: ChildProcess | null = null;
  let ready: Promise<boolean> | null = null;
  let nextId = 0;
  let underWay = 0;
  const pending = new Map<number, Pending>();

  /** Hold the event loop open while commands are under way, as their own processes would. */
  const holdOpen = () => {
    if (pending.size > 0) child?.channel?.ref();
    else child?.channel?.unref();
  };

  /** Answer every command sent to a runner that is gone: what became of them is unknown. */
  const settleAll = (runner: ChildProcess, message: string) => {
    for (const [id, entry] of pending) {
      if (entry.runner !== runner) continue;
      pending.delete(id);
      entry.resolve({ kind: 'spawn-failed', code: null, message });
    }
  };

  const start = (): Promise<boolean> => {
    const entry = runnerEntry();
    const started = fork(entry.path, [JSON.stringify(limits)], {
      execArgv: entry.execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'json',
    });
    child = started;
    // unref: the runner alone must not keep the provider alive.
    started.unref();
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        options
          .logger?.()
          ?.warn({ timeoutMs: READY_TIMEOUT_MS }, 'the Slurm command runner did not start in time; commands run in the provider process');
        onUnusable();
        resolve(false);
        started.kill('SIGKILL');
      }, READY_TIMEOUT_MS);
      timer.unref();
      started.on('message', (answer: RunnerAnswer) => {
        if (answer.t === 'ready') {
          clearTimeout(timer);
          resolve(true);
          holdOpen();
          return;
        }
        const entry = pending.get(answer.id);
        if (!entry) return;
        if (answer.t === 'queued') return entry.queued();
        if (answer.t === 'started') return entry.started();
        pending.delete(answer.id);
        entry.resolve(answer.outcome);
        holdOpen();
      });
      const gone = (why: string) => {
        clearTimeout(timer);
        if (child === started) {
          child = null;
          ready = null;
        }
        settleAll(started, `the Slurm command runner ${why}`);
        resolve(false);
      };
      started.on('error', (error) => {
        options.logger?.()?.warn({ err: error }, 'the Slurm command runner failed; commands run in the provider process');
        onUnusable();
        gone(`failed: ${error.message}`);
      });
      started.on('exit', (code, signal) => gone(`exited (${signal ?? `exit code ${code}`})`));
    });
  };

  const send = (runner: ChildProcess, request: CommandRequest, signal?: AbortSignal) => {
    const id = ++nextId;
    return new Promise<CommandOutcome>((resolve) => {
      const onAbort = () => {
        if (runner.connected) runner.send({ t: 'abort', id });
      };
      let guard: NodeJS.Timeout | undefined;
      /** The runner itself is stuck when a running command is not answered well after its own timeout. */
      const watch = () => {
        guard = setTimeout(() => {
          onAbort();
          done({ kind: 'timed-out', stderr: '' });
        }, request.timeoutMs + ANSWER_GRACE_MS);
        guard.unref();
      };
      const done = (outcome: CommandOutcome) => {
        clearTimeout(guard);
        signal?.removeEventListener('abort', onAbort);
        if (pending.get(id)?.resolve === done) pending.delete(id);
        holdOpen();
        resolve(outcome);
      };
      pending.set(id, { runner, resolve: done, queued: () => clearTimeout(guard), started: watch });
      signal?.addEventListener('abort', onAbort, { once: true });
      holdOpen();
      watch();
      try {
        runner.send({ t: 'run', id, request });
      } catch (error) {
        done({ kind: 'spawn-failed', code: null, message: `the Slurm command runner is gone: ${(error as Error).message}` });
      }
    });
  };

  return {
    limits,
    get underWay() {
      return underWay;
    },
    async run(request, signal) {
      // Counted from now, not from the send: a burst while it starts spreads over the others.
      underWay += 1;
      try {
        ready ??= start();
        if (!(await ready) || !child) return null;
        return await send(child, request, signal);
      } finally {
        underWay -= 1;
      }
    },
    async close() {
      const running = child;
      child = null;
      ready = null;
      if (!running || running.exitCode !== null || running.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
      // Disconnected, it exits by itself; a stuck one is killed.
      if (running.connected) running.disconnect();
      const timer = setTimeout(() => running.kill('SIGKILL'), 2_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export function createCommandRunner(options: CommandRunnerOptions = {}): CommandRunner {
  const limits = Object.fromEntries(Object.entries(options.limits ?? {}).map(([command, max]) => [command, Math.max(1, Math.floor(max))]));
  /** A runner could not start: commands run in this process from then on, within the same limits. */
  let inline = false;
  const inlineTurns = new Map(Object.entries(limits).map(([command, max]) => [command, createConcurrencyLimit(max)]));
  const runHere = (request: CommandRequest, signal?: AbortSignal) => {
    const turn = inlineTurns.get(request.command);
    return turn ? turn.run(() => runCommand(request, signal)) : runCommand(request, signal);
  };
  const slots = limitShares(limits, Math.max(1, options.processes ?? 2)).map((shares) => createRunnerSlot(shares, options, () => (inline = true)));

  return {
    async run(request, signal) {
      if (signal?.aborted) return { kind: 'not-run' };
      if (inline) return runHere(request, signal);
      // A limited command goes only where it has a share of the limit.
      const able = request.command in limits ? slots.filter((slot) => (slot.limits[request.command] ?? 0) > 0) : slots;
      const slot = able.reduce((best, next) => (next.underWay < best.underWay ? next : best));
      return (await slot.run(request, signal)) ?? runHere(request, signal);
    },

    async close() {
      await Promise.all(slots.map((slot) => slot.close()));
    },
  };
}
