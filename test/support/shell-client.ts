/** A terminal client for tests: a websocket speaking `v5.channel.k8s.io`, as kubectl's websocket executor does. */
import { WebSocket } from 'ws';

import { eventually } from './graphql-client.js';

export interface ShellClient {
  readonly socket: WebSocket;
  /** Everything received on stdout so far. */
  stdout(): string;
  /** Bytes received on stdout so far. */
  stdoutBytes(): number;
  /** The Status sent on the error channel, once it came. */
  status(): Record<string, any> | null;
  /** The close code and reason, once closed. */
  closed(): { code: number; reason: string } | null;
  type(text: string): void;
  resize(cols: number, rows: number): void;
  /** Waits until stdout matches, and answers the match. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  waitClosed(timeoutMs?: number): Promise<{ code: number; reason: string }>;
  /** Stops reading from the socket (its TCP window fills), and starts again. */
  pause(): void;
  resume(): void;
}

/** Opens a session URL; rejects with the HTTP status when the upgrade is refused. */
export function connectShell(url: string): Promise<ShellClient> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, ['v5.channel.k8s.io']);
    const chunks: Buffer[] = [];
    let bytes = 0;
    let text: string | null = '';
    let status: Record<string, any> | null = null;
    let closed: { code: number; reason: string } | null = null;
    socket.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode} ${body}`), { status: res.statusCode, body })));
    });
    socket.on('error', (error) => reject(error));
    socket.on('message', (data: Buffer) => {
      const channel = data[0];
      const payload = data.subarray(1);
      if (channel === 1 || channel === 2) {
        chunks.push(Buffer.from(payload));
        bytes += payload.length;
        text = null;
      } else if (channel === 3) {
        status = JSON.parse(payload.toString('utf8')) as Record<string, any>;
      }
    });
    socket.on('close', (code, reason) => (closed = { code, reason: reason.toString('utf8') }));
    const client: ShellClient = {
      socket,
      stdout() {
        text ??= Buffer.concat(chunks).toString('utf8');
        return text;
      },
      stdoutBytes: () => bytes,
      status: () => status,
      closed: () => closed,
      type: (input) => socket.send(Buffer.concat([Buffer.of(0), Buffer.from(input, 'utf8')])),
      resize: (cols, rows) => socket.send(Buffer.concat([Buffer.of(4), Buffer.from(JSON.stringify({ Width: cols, Height: rows }))])),
      waitFor: (pattern, timeoutMs = 15_000) =>
        eventually(async () => client.stdout().match(pattern), {
          timeoutMs,
          what: `${pattern} on the terminal; it shows: ${client.stdout().slice(-800)}`,
        }),
      waitClosed: (timeoutMs = 15_000) => eventually(async () => closed, { timeoutMs, what: 'the session to close' }),
      pause: () => socket.pause(),
      resume: () => socket.resume(),
    };
    socket.once('open', () => resolve(client));
  });
}
