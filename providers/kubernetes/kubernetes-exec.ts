/**
 * A shell in a rank's container: `exec` through the API server with the
 * official client's Exec (the API server's websocket, v5.channel.k8s.io), on a
 * tty, in the container's own environment, working directory and account.
 * Exec writes what the container prints into a stream without waiting for it,
 * so the flow control is done here on its websocket: it is paused while the
 * session's reader is behind (TCP then holds the API server, the kubelet and
 * the process back), and input is taken no faster than the socket sends it.
 */
import { Duplex, PassThrough, Writable } from 'node:stream';
import { Exec, type V1Status } from '@kubernetes/client-node';
import type { WebSocket } from 'ws';

import type { DriverSession } from '../sdk/index.js';
import type { KubernetesClient } from './kubernetes-client.js';

/** bash where the image has it, else sh; TERM as a terminal would set it. */
export const SHELL_COMMAND = [
  '/bin/sh',
  '-c',
  'export TERM="${TERM:-xterm-256color}"; if command -v bash >/dev/null 2>&1; then exec bash -i; fi; exec sh -i',
];

/** Input held in the websocket's send buffer above which a write waits: a container that stops reading stops the client. */
const INPUT_HIGH_WATER_BYTES = 64 * 1024;
/** How often a write that waits looks at the send buffer again (the websocket tells no one when it drains). */
const INPUT_DRAIN_POLL_MS = 10;

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
  let socket: WebSocket | null = null;
  let status: V1Status | null = null;
  let outputEnded = false;
  const input = new PassThrough();
  const stream = new Duplex({
    read: () => socket?.resume(),
    write: (chunk: Buffer, _encoding, callback) => {
      input.write(chunk);
      const sent = () => {
        if (!socket || socket.readyState !== socket.OPEN || socket.bufferedAmount < INPUT_HIGH_WATER_BYTES) return callback();
        setTimeout(sent, INPUT_DRAIN_POLL_MS).unref();
      };
      sent();
    },
    final: (callback) => {
      input.end();
      callback();
    },
  });
  const endOutput = () => {
    if (outputEnded) return;
    outputEnded = true;
    stream.push(null);
  };
  // Exec resizes a stdout that has rows and columns: it sends them at once and on each 'resize'.
  const output = Object.assign(
    new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        if (!stream.push(chunk)) socket?.pause();
        callback();
      },
      final: (callback) => {
        endOutput();
        callback();
      },
    }),
    { rows: size.rows, columns: size.cols },
  );
  const exec = new Exec(client.config);
  // tty: stderr is merged into the terminal, and the API server refuses a separate stream for it.
  socket = (await exec.exec(target.namespace, target.pod, target.container, target.command, output, null, input, true, (s) => {
    status = s;
  })) as unknown as WebSocket;
  const exit = new Promise<{ exitCode: number | null }>((resolve) => {
    socket!.once('close', () => {
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
      socket?.close();
    },
  };
}
