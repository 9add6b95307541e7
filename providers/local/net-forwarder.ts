/**
 * A way into a sandbox's network namespace for WEB sessions. A job with a
 * network of its own (SWITCHYARD_LOCAL_NETWORK=none) listens on a loopback
 * the provider cannot reach, and node cannot enter a namespace itself; so a
 * small node process, started with `nsenter --net` into the sandbox's init,
 * listens on a Unix socket in the provider's state directory (a path on the
 * host's file system, hidden from jobs) and connects each connection it
 * accepts to 127.0.0.1:<port> inside. One forwarder serves one port of one
 * rank for as long as the job runs; it exits when the provider closes its
 * stdin (or dies).
 *
 * Each accepted connection first gets one byte from the forwarder: 1 when
 * the app took the connection, or 0 and a reason when it did not (nothing
 * listens there), so the client sees why rather than a closed connection.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';

import { InvalidStateError } from '../../shared/errors.js';
import { SANDBOX_TOOLS } from './sandbox.js';

/** The forwarder, run by node inside the namespace: argv socket path and port. */
const FORWARDER = String.raw`
const net = require('node:net');
const [path, port] = process.argv.slice(-2);
const server = net.createServer({ allowHalfOpen: true }, (client) => {
  const app = net.connect({ host: '127.0.0.1', port: Number(port), allowHalfOpen: true });
  let connected = false;
  client.on('error', () => app.destroy());
  app.once('error', (error) => {
    if (connected) return client.destroy();
    const why = error.code === 'ECONNREFUSED' ? 'nothing listens there (connection refused)' : error.message;
    client.end(Buffer.concat([Buffer.from([0]), Buffer.from(why)]));
  });
  app.once('connect', () => {
    connected = true;
    client.write(Buffer.from([1]));
    client.pipe(app);
    app.pipe(client);
  });
  app.on('close', () => connected && client.destroy());
  client.on('close', () => app.destroy());
});
server.listen(path, () => process.stdout.write('ready\n'));
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
`;

export interface NetForwarder {
  /** A connection to the app through the forwarder; InvalidStateError (with the reason) when the app takes none. */
  connect(description: { jobId: string; what: string }): Promise<Socket>;
  close(): void;
}

/** Start a forwarder into the namespaces of `namespacePid` for `port`; resolves once it listens. */
export function startNetForwarder(options: {
  namespacePid: number;
  port: number;
  /** A directory of the provider's, hidden from jobs. */
  socketDir: string;
  /** Enter the sandbox's user namespace too (a provider that is not root made one). */
  enterUserNamespace: boolean;
}): Promise<NetForwarder> {
  mkdirSync(options.socketDir, { recursive: true, mode: 0o700 });
  // Short: a Unix socket's path holds at most 107 bytes.
  const path = join(options.socketDir, `${randomBytes(6).toString('hex')}.sock`);
  const child: ChildProcess = spawn(
    SANDBOX_TOOLS.nsenter,
    [
      `--target=${options.namespacePid}`,
      '--net',
      ...(options.enterUserNamespace ? ['--user', '--preserve-credentials'] : []),
      '--',
      process.execPath,
      '-e',
      FORWARDER,
      path,
      String(options.port),
    ],
    { stdio: ['pipe', 'pipe', 'pipe'], env: {} },
  );
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = `${stderr}${chunk.toString('utf8')}`.slice(-2000)));
  const close = () => {
    child.stdin!.end();
    child.kill('SIGTERM');
    rmSync(path, { force: true });
  };
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      rmSync(path, { force: true });
      reject(new Error(`the network forwarder exited (${code}) before it listened: ${stderr.trim()}`));
    });
    child.stdout!.once('data', () =>
      resolve({
        close,
        connect: (where) =>
          new Promise<Socket>((accept, refuse) => {
            const refused = (why: string) => refuse(new InvalidStateError(where.jobId, `Cannot connect to ${where.what}: ${why}`));
            const socket = connect({ path, allowHalfOpen: true });
            socket.once('error', (error) => refused(error.message));
            // The status byte; the app's bytes after it stay in the socket for the session.
            socket.once('readable', function first() {
              const status = socket.read(1) as Buffer | null;
              if (status === null) return socket.readableEnded ? refused('the forwarder closed the connection') : socket.once('readable', first);
              if (status[0] === 1) return accept(socket);
              const reason: Buffer[] = [];
              socket.on('data', (chunk: Buffer) => reason.push(chunk));
              socket.once('end', () => {
                socket.destroy();
                refused(Buffer.concat(reason).toString('utf8'));
              });
            });
          }),
      }),
    );
  });
}
