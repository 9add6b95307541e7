/**
 * Runs the Slurm provider's commands in a small process of its own
 * (command-runner-process.ts), so that the provider's event loop never
 * forks: fork() copies the page tables of the process that calls it, and a
 * provider of a few hundred MB spends milliseconds of its event loop on every
 * sbatch, squeue and sacct — most of its time under a burst of submissions.
 * The runner starts at the first command; where it cannot start, commands
 * run in this process as before (and a warning says so).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import type { Logger } from '../sdk/index.js';
import { runCommand, type CommandOutcome, type CommandRequest } from './run-command.js';

/** How long the runner process may take to start before commands run here instead. */
const READY_TIMEOUT_MS = 15_000;
/** How much longer than its own timeout a command may take to be answered (the runner itself is stuck). */
const ANSWER_GRACE_MS = 5_000;

export interface CommandRunner {
  /** Run a command to its end; never rejects. */
  run(request: CommandRequest, signal?: AbortSignal): Promise<CommandOutcome>;
  /** Stop the runner process; a later command starts it again. */
  close(): Promise<void>;
}

type Answer = { t: 'ready' } | { t: 'done'; id: number; outcome: CommandOutcome };

interface Pending {
  /** The runner process the command was sent to. */
  runner: ChildProcess;
  resolve(outcome: CommandOutcome): void;
}

/** The runner's entry: the .ts source under tsx (which it then needs too), or a built .js. */
function runnerEntry(): { path: string; execArgv: string[] } {
  const own = fileURLToPath(import.meta.url);
  const path = fileURLToPath(new URL(`./command-runner-process${extname(own)}`, import.meta.url));
  if (!path.endsWith('.ts')) return { path, execArgv: [] };
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return { path, execArgv: ['--import', tsx] };
}

export function createCommandRunner(options: { logger?: () => Logger | undefined } = {}): CommandRunner {
  let child: ChildProcess | null = null;
  let ready: Promise<boolean> | null = null;
  /** The runner could not start: commands run in this process from then on. */
  let inline = false;
  let nextId = 0;
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
    const started = fork(entry.path, [], { execArgv: entry.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' });
    child = started;
    // unref: the runner alone must not keep the provider alive.
    started.unref();
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        options
          .logger?.()
          ?.warn({ timeoutMs: READY_TIMEOUT_MS }, 'the Slurm command runner did not start in time; commands run in the provider process');
        inline = true;
        resolve(false);
        started.kill('SIGKILL');
      }, READY_TIMEOUT_MS);
      timer.unref();
      started.on('message', (answer: Answer) => {
        if (answer.t === 'ready') {
          clearTimeout(timer);
          resolve(true);
          holdOpen();
          return;
        }
        const entry = pending.get(answer.id);
        if (!entry) return;
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
        inline = true;
        gone(`failed: ${error.message}`);
      });
      started.on('exit', (code, signal) => gone(`exited (${signal ?? `exit code ${code}`})`));
    });
  };

  return {
    async run(request, signal) {
      if (signal?.aborted) return { kind: 'not-run' };
      if (!inline && !ready) ready = start();
      if (inline || !(await ready!) || !child) return runCommand(request, signal);
      const runner = child;
      const id = ++nextId;
      return new Promise<CommandOutcome>((resolve) => {
        const onAbort = () => {
          if (runner.connected) runner.send({ t: 'abort', id });
        };
        const guard = setTimeout(() => {
          onAbort();
          done({ kind: 'timed-out', stderr: '' });
        }, request.timeoutMs + ANSWER_GRACE_MS);
        guard.unref();
        const done = (outcome: CommandOutcome) => {
          clearTimeout(guard);
          signal?.removeEventListener('abort', onAbort);
          if (pending.get(id)?.resolve === done) pending.delete(id);
          holdOpen();
          resolve(outcome);
        };
        pending.set(id, { runner, resolve: done });
        signal?.addEventListener('abort', onAbort, { once: true });
        holdOpen();
        try {
          runner.send({ t: 'run', id, request });
        } catch (error) {
          done({ kind: 'spawn-failed', code: null, message: `the Slurm command runner is gone: ${(error as Error).message}` });
        }
      });
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
