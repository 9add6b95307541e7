/**
 * The provider's side of interactive sessions: each session a driver opens
 * is relayed to the gateway over its session link (shared/session-link.ts).
 * The driver's stream is paused while the gateway has granted no room, and
 * written no faster than it takes bytes; the exit code goes out after the
 * last output. A session ends when its process ends, when the gateway closes
 * it or stops answering, or when the provider stops.
 */
import { InvalidInputError, UnsupportedError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { SessionRequest } from '../../shared/protocol.js';
import { createSessionLink, SESSION_CHANNELS, type SessionLink } from '../../shared/session-link.js';
import type { Transport } from '../../shared/transport.js';
import type { Driver, DriverSession } from './driver.js';

export interface SessionRelaysOptions {
  transport: Transport;
  providerId: string;
  driver: Driver;
  logger: Logger;
  /** Bytes of the user's input this provider takes in flight. */
  window: number;
}

export interface SessionRelays {
  open(request: Extract<SessionRequest, { op: 'open' }>): Promise<void>;
  /** Sessions open now. */
  readonly size: number;
  /** End every session, telling the gateway why. */
  closeAll(reason: string): void;
}

export function createSessionRelays(options: SessionRelaysOptions): SessionRelays {
  const { transport, providerId, driver, logger, window } = options;
  const subjects = transport.subjects;
  const open = new Map<string, { link: SessionLink; session: DriverSession }>();

  const relay = (request: Extract<SessionRequest, { op: 'open' }>, session: DriverSession) => {
    const { sessionId, jobId, rank } = request;
    const { stream } = session;
    const log = logger.child({ sessionId, jobId, rank, sessionType: request.type });
    const link = createSessionLink({
      transport,
      sendSubject: subjects.sessionToGateway(providerId, sessionId),
      receiveSubject: subjects.sessionToProvider(providerId, sessionId),
      window,
      heartbeatMs: request.heartbeatMs,
      missedHeartbeats: request.missedHeartbeats,
      handlers: {
        // Granted again only once the backend took the bytes: a shell that stops reading stops the client.
        onData: (_channel, bytes) => {
          if (!stream.writable) return link.consumed(bytes.length);
          stream.write(bytes, () => link.consumed(bytes.length));
        },
        onDrain: () => stream.resume(),
        onResize: ({ cols, rows }) => session.resize(cols, rows),
        onEof: () => stream.end(),
        onClose: (reason, by) => {
          open.delete(sessionId);
          session.close();
          log.info({ reason, by }, 'session ended');
        },
      },
    });
    open.set(sessionId, { link, session });
    stream.on('error', (error) => log.warn({ err: error }, 'session stream failed'));
    stream.on('data', (chunk: Buffer) => {
      if (!link.write(SESSION_CHANNELS.stdout, chunk)) stream.pause();
    });
    // The output read to its end (or the stream gone) and the process exited: the code goes after the last byte.
    const drained = new Promise<void>((resolve) => {
      stream.once('end', resolve);
      stream.once('close', resolve);
    });
    void Promise.all([session.exit, drained]).then(([{ exitCode }]) => {
      link.exit(exitCode);
      link.end(exitCode === null ? 'the session ended' : `the session's process exited with code ${exitCode}`);
    });
    link.start();
    log.info('session open');
  };

  return {
    async open(request) {
      if (!driver.openSession) throw new UnsupportedError(`Provider ${providerId} offers no interactive sessions`);
      if (open.has(request.sessionId)) throw new InvalidInputError(`Session ${request.sessionId} is already open`);
      const session = await driver.openSession({
        jobId: request.jobId,
        rank: request.rank,
        type: request.type,
        cols: request.size.cols,
        rows: request.size.rows,
        ...(request.port !== undefined ? { port: request.port } : {}),
      });
      relay(request, session);
    },
    get size() {
      return open.size;
    },
    closeAll(reason) {
      for (const { link } of [...open.values()]) link.close(reason);
    },
  };
}
