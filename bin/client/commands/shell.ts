/**
 * `shell <job>`: an interactive terminal in a running job, through a SHELL
 * session (openInteractiveSessions), speaking `v5.channel.k8s.io` on the
 * session's websocket (docs/SESSIONS.md): the local terminal in raw mode,
 * its size passed on at the start and on every resize, and the shell's exit
 * code as the command's.
 */
import type { Command } from 'commander';
import { WebSocket } from 'ws';

import { CliError, EXIT, JobEnded } from '../exit-codes.js';
import { nonNegativeInteger } from '../option-values.js';
import type { CommandContext } from '../register.js';

const OPEN = `mutation ($jobId: ID!, $rank: Int!) { openInteractiveSessions(items: [{ jobId: $jobId, rank: $rank, sessionType: SHELL }]) {
  session { url expiresAt } error { code message } } }`;

const CHANNEL = { stdin: 0, stdout: 1, stderr: 2, status: 3, resize: 4 } as const;

interface K8sStatus {
  status?: string;
  message?: string;
  details?: { causes?: { reason?: string; message?: string }[] };
}

/** The exit code a `v5.channel.k8s.io` Status carries (0 on Success). */
export function exitCodeOfStatus(status: K8sStatus): number | null {
  if (status.status === 'Success') return 0;
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  return cause?.message !== undefined && /^\d+$/.test(cause.message) ? Number(cause.message) : null;
}

function frame(channel: number, payload: Buffer | string): Buffer {
  return Buffer.concat([Buffer.from([channel]), Buffer.from(payload)]);
}

export function registerShellCommand(program: Command, context: CommandContext): void {
  program
    .command('shell')
    .alias('exec')
    .description('an interactive shell in a running job (its environment, its files)')
    .argument('<id>', 'the job')
    .option('-r, --rank <n>', 'which rank', nonNegativeInteger, 0)
    .action(async (id: string, opts: { rank: number }, cmd: Command) => {
      const { api } = context(cmd);
      const { openInteractiveSessions } = await api().request<{
        openInteractiveSessions: { session: { url: string } | null; error: { code: string; message: string } | null }[];
      }>(OPEN, {
        jobId: id,
        rank: opts.rank,
      });
      const result = openInteractiveSessions[0];
      if (!result?.session)
        throw new CliError(
          result?.error ? `${result.error.code}: ${result.error.message}` : 'the gateway opened no session',
          EXIT.refused,
          result?.error?.code,
        );
      const code = await runTerminal(result.session.url);
      throw new JobEnded(code);
    });
}

/** Joins this terminal to the session until it closes; answers the shell's exit code (1 when it gave none). */
function runTerminal(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, ['v5.channel.k8s.io']);
    const stdin = process.stdin;
    let status: K8sStatus | null = null;
    const sendSize = () => {
      if (process.stdout.isTTY && socket.readyState === WebSocket.OPEN) {
        socket.send(frame(CHANNEL.resize, JSON.stringify({ Width: process.stdout.columns, Height: process.stdout.rows })));
      }
    };
    const onInput = (chunk: Buffer) => socket.send(frame(CHANNEL.stdin, chunk));
    // Input from a pipe ended: the remote terminal gets its end-of-file, as a typed Ctrl-D would give it.
    const onEnd = () => socket.readyState === WebSocket.OPEN && socket.send(Buffer.from([255, CHANNEL.stdin]));
    const restore = () => {
      stdin.off('data', onInput);
      stdin.off('end', onEnd);
      process.stdout.off('resize', sendSize);
      if (stdin.isTTY) stdin.setRawMode(false);
      stdin.pause();
    };
    socket.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        const error = (JSON.parse(body || '{}') as { error?: { code: string; message: string } }).error;
        reject(
          new CliError(
            error ? `${error.code}: ${error.message}` : `the session was refused: HTTP ${res.statusCode}`,
            res.statusCode === 401 ? EXIT.unauthenticated : EXIT.refused,
            error?.code,
          ),
        );
      });
    });
    socket.on('error', (error) => reject(new CliError(`the session failed: ${error.message}`, EXIT.unreachable)));
    socket.on('open', () => {
      // Raw: every key goes to the remote shell as typed (Ctrl-C included), echoed by its pty.
      if (stdin.isTTY) stdin.setRawMode(true);
      stdin.on('data', onInput);
      stdin.on('end', onEnd);
      stdin.resume();
      process.stdout.on('resize', sendSize);
      sendSize();
    });
    socket.on('message', (data: Buffer) => {
      const channel = data[0];
      const payload = data.subarray(1);
      if (channel === CHANNEL.stdout) process.stdout.write(payload);
      else if (channel === CHANNEL.stderr) process.stderr.write(payload);
      else if (channel === CHANNEL.status) status = JSON.parse(payload.toString('utf8')) as K8sStatus;
    });
    socket.on('close', (code, reason) => {
      restore();
      const exitCode = status ? exitCodeOfStatus(status) : null;
      if (exitCode !== null) return resolve(exitCode);
      process.stderr.write(`\r\nswitchyard: the session ended: ${status?.message ?? (reason.toString('utf8') || `close code ${code}`)}\r\n`);
      resolve(EXIT.refused);
    });
  });
}
