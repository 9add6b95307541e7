/**
 * One command, run as the Slurm provider runs its commands: in a process
 * group of its own so that a kill reaches whatever it started, for a bounded
 * time and with bounded output; what became of it is answered as data, for
 * the caller to word (slurm-cli.ts). Node built-ins only: the command runner
 * process (command-runner-process.ts) runs this too, and starts small.
 */
import { spawn } from 'node:child_process';

export interface CommandRequest {
  command: string;
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  /** Killed, with its process group, after this long. */
  timeoutMs: number;
  /** Stopped once it printed more than this (stdout and stderr together). */
  maxOutputBytes: number;
}

/** What became of a command. */
export type CommandOutcome =
  /** It exited (or a signal ended it) and its output is complete. */
  | { kind: 'exited'; code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }
  /** Aborted before it started. */
  | { kind: 'not-run' }
  /** Aborted while it ran, and killed. */
  | { kind: 'aborted'; stderr: string }
  /** It did not end in time, and was killed. */
  | { kind: 'timed-out'; stderr: string }
  /** It printed too much, and was killed. */
  | { kind: 'too-much-output' }
  /** It could not be started (errno name and message). */
  | { kind: 'spawn-failed'; code: string | null; message: string };

/** Run a command to its end; never rejects. `signal` aborts it (kills it) early. */
export function runCommand(request: CommandRequest, signal?: AbortSignal): Promise<CommandOutcome> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve({ kind: 'not-run' });
      return;
    }
    // detached: the command leads a process group, so a kill reaches whatever it started.
    const child = spawn(request.command, request.args, { env: request.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let bytes = 0;
    let settled = false;
    let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;

    const killGroup = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    const errText = () => Buffer.concat(stderr).toString('utf8');
    const finish = (outcome: CommandOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      // Anything but success: whatever the command left behind goes with it.
      if (outcome.kind !== 'exited' || outcome.code !== 0) {
        killGroup();
        child.stdout?.destroy();
        child.stderr?.destroy();
      }
      resolve(outcome);
    };
    const onAbort = () => finish({ kind: 'aborted', stderr: errText() });
    const timer = setTimeout(() => finish({ kind: 'timed-out', stderr: errText() }), request.timeoutMs);
    timer.unref();
    signal?.addEventListener('abort', onAbort, { once: true });

    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > request.maxOutputBytes) {
        finish({ kind: 'too-much-output' });
        return;
      }
      into.push(chunk);
    };
    child.stdout.on('data', collect(stdout));
    child.stderr.on('data', collect(stderr));
    child.on('error', (error: NodeJS.ErrnoException) => finish({ kind: 'spawn-failed', code: error.code ?? null, message: error.message }));
    child.on('exit', (code, exitSignal) => {
      exited = { code, signal: exitSignal };
    });
    // close: the output is complete (a child the command left behind could hold it open; the timer covers that).
    child.on('close', (code, closeSignal) => {
      const status = exited ?? { code, signal: closeSignal };
      finish({ kind: 'exited', code: status.code, signal: status.signal, stdout: Buffer.concat(stdout).toString('utf8'), stderr: errText() });
    });
  });
}
