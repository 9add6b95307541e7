/**
 * A connection to a port a job's app listens on, as a driver's WEB session:
 * the socket is the session's stream (the runtime relays it over the session
 * link with flow control), it has no terminal to resize and no exit code,
 * and it ends when either side closes. Connecting fails with a clear
 * InvalidStateError (nothing listens there, the host cannot be reached in
 * time), never a hang.
 */
import { connect, type NetConnectOpts, type Socket } from 'node:net';

import { InvalidStateError } from '../../shared/errors.js';
import type { DriverSession } from './driver.js';

/** How long a connection to the app may take. */
export const APP_CONNECT_TIMEOUT_MS = 10_000;

/** The session of a socket already connected. */
export function socketSession(socket: Socket): DriverSession {
  // The app has sent all it will (an answer whose end is the close, as busybox httpd's redirects):
  // end this side too, so that the socket closes and the session with it, and the client sees the end.
  socket.once('end', () => socket.end());
  const exit = new Promise<{ exitCode: number | null }>((resolve) => socket.once('close', () => resolve({ exitCode: null })));
  return {
    stream: socket,
    resize: () => undefined,
    exit,
    close: () => socket.destroy(),
  };
}

/** Connect to the app (`where` names it in errors: "port 8888 of rank 0 of job …"). */
export function connectTcpSession(
  target: { host: string; port: number } | { path: string },
  where: { jobId: string; description: string },
  timeoutMs = APP_CONNECT_TIMEOUT_MS,
): Promise<{ socket: Socket; session: DriverSession }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ ...target, allowHalfOpen: true } as NetConnectOpts);
    const timer = setTimeout(() => socket.destroy(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
    const failed = (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = error.code === 'ECONNREFUSED' ? 'nothing listens there (connection refused)' : error.message;
      reject(new InvalidStateError(where.jobId, `Cannot connect to ${where.description}: ${why}`));
    };
    socket.once('error', failed);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', failed);
      resolve({ socket, session: socketSession(socket) });
    });
  });
}
