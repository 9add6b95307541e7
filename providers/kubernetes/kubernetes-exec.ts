/**
 * A shell in a rank's container: `exec` through the API server with the
 * official client's Exec (the API server's websocket, v5.channel.k8s.io), on a
 * tty, in the container's own environment, working directory and account, with
 * the flow control of websocket-stream.ts.
 */
import { Exec, type V1Status } from '@kubernetes/client-node';
import type { WebSocket } from 'ws';

import type { DriverSession } from '../sdk/index.js';
import type { KubernetesClient } from './kubernetes-client.js';
import { websocketStream } from './websocket-stream.js';

/** bash where the image has it, else sh; TERM as a terminal would set it. */
export const SHELL_COMMAND = [
  '/bin/sh',
  '-c',
  'export TERM="${TERM:-xterm-256color}"; if command -v bash >/dev/null 2>&1; then exec bash -i; fi; exec sh -i',
];

/** The exit code in the Status the API server ends an exec with; null when it gives none. */
export function exitCodeOfStatus(status: V1Status | null): number | null {
  if (!status) return null;
  if (status.status === 'Success') return 0;
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  const code = cause?.message !== undefined ? Number(cause.message) : Number.NaN;
  return Number.isInteger(code) ? code : null;
}

export interface ExecTarget {
  namespace: string;
  pod: string;
  container: string;
  command: string[];
}

/** Open a shell in a container on a tty of the given size. */
export async function openExecSession(client: KubernetesClient, target: ExecTarget, size: { cols: number; rows: number }): Promise<DriverSession> {
  let status: V1Status | null = null;
  const { stream, input, output: plain, attach, endOutput } = websocketStream({ endInput: (stdin) => stdin.end() });
  // Exec resizes a stdout that has rows and columns: it sends them at once and on each 'resize'.
  const output = Object.assign(plain, { rows: size.rows, columns: size.cols });
  const exec = new Exec(client.config);
  // tty: stderr is merged into the terminal, and the API server refuses a separate stream for it.
  const socket = (await exec.exec(target.namespace, target.pod, target.container, target.command, output, null, input, true, (s) => {
    status = s;
  })) as unknown as WebSocket;
  attach(socket);
  const exit = new Promise<{ exitCode: number | null }>((resolve) => {
    socket.once('close', () => {
      endOutput();
      resolve({ exitCode: exitCodeOfStatus(status) });
    });
  });
  return {
    stream,
    resize(cols, rows) {
      output.columns = cols;
      output.rows = rows;
      output.emit('resize');
    },
    exit,
    close() {
      // The API server hangs up the exec's terminal, and the shell with it.
      socket.close();
    },
  };
}
