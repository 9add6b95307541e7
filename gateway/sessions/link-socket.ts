/**
 * One connection to a job's port as a socket on the gateway: a Duplex over a
 * session link (shared/session-link.ts) of its own, opened with `jobs.session`
 * (`op: open`, type WEB, the port), at whose other end the provider holds a
 * TCP connection to the app. node's HTTP client runs over it (an Agent whose
 * createConnection answers one), so the proxy needs no HTTP of its own.
 *
 * Flow control is the link's: a write waits for the provider's grant (its
 * callback is held, so the request body is read no faster than the app
 * takes it), and bytes from the provider are credited back only once the
 * HTTP client has read them (push answered true, or _read asked for more).
 */
import { randomUUID } from 'node:crypto';
import { Agent, type AgentOptions } from 'node:http';
import { Duplex } from 'node:stream';

import { createSessionLink, SESSION_CHANNELS, type SessionLink } from '../../shared/session-link.js';
import type { SessionGrant } from './session-credentials.js';
import type { SessionOutcome, ShellRelayOptions } from './shell-relay.js';

/** What a shell's relay is given, for one connection to an app. */
export type LinkSocketOptions = Pick<
  ShellRelayOptions,
  'transport' | 'provider' | 'metrics' | 'logger' | 'window' | 'heartbeatMs' | 'missedHeartbeats'
> & {
  grant: SessionGrant & { port: number };
};

/** The provider could not connect to the app (nothing listens on the port, the rank is gone). */
export class AppUnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AppUnreachableError';
  }
}

export class LinkSocket extends Duplex {
  readonly sessionId = randomUUID();
  private readonly link: SessionLink;
  /** Bytes pushed to the reader and not yet credited back to the provider. */
  private uncredited = 0;
  /** A write waiting for the provider's grant. */
  private waitingWrite: (() => void) | null = null;
  private ended = false;

  constructor(private readonly options: LinkSocketOptions) {
    super({ allowHalfOpen: true });
    const { grant, transport, metrics } = options;
    const subjects = transport.subjects;
    const started = performance.now();
    const log = options.logger.child({ sessionId: this.sessionId, jobId: grant.jobId, rank: grant.rank, port: grant.port });
    const finish = (outcome: SessionOutcome) => {
      if (this.ended) return;
      this.ended = true;
      metrics.sessionsOpen.dec({ type: 'WEB' });
      metrics.sessionDuration.observe({ type: 'WEB', outcome }, (performance.now() - started) / 1000);
    };
    this.link = createSessionLink({
      transport,
      sendSubject: subjects.sessionToProvider(grant.providerId, this.sessionId),
      receiveSubject: subjects.sessionToGateway(grant.providerId, this.sessionId),
      window: options.window,
      heartbeatMs: options.heartbeatMs,
      missedHeartbeats: options.missedHeartbeats,
      handlers: {
        onData: (_channel, bytes) => {
          metrics.sessionBytes.inc({ type: 'WEB', direction: 'to_client' }, bytes.length);
          if (this.push(bytes)) this.link.consumed(bytes.length);
          else this.uncredited += bytes.length;
        },
        onDrain: () => {
          const resume = this.waitingWrite;
          this.waitingWrite = null;
          resume?.();
        },
        onClose: (reason, by) => {
          if (by === 'local') return;
          if (by === 'lost') {
            finish('provider_lost');
            return void this.destroy(new Error(`the provider stopped answering (${reason})`));
          }
          // The app closed its connection: the end of what it sends.
          finish('provider_closed');
          this.push(null);
          this.waitingWrite?.();
          this.waitingWrite = null;
        },
      },
    });
    metrics.sessionsOpen.inc({ type: 'WEB' });
    options.provider
      .call('jobs.session', {
        op: 'open',
        sessionId: this.sessionId,
        jobId: grant.jobId,
        rank: grant.rank,
        type: 'WEB',
        port: grant.port,
        size: { cols: 80, rows: 24 },
        window: options.window,
        heartbeatMs: options.heartbeatMs,
        missedHeartbeats: options.missedHeartbeats,
      })
      .then(
        () => {
          if (this.destroyed) {
            // Gone while the provider connected: it listens now, so tell it again.
            transport.publish(subjects.sessionToProvider(grant.providerId, this.sessionId), { v: 1, type: 'close', reason: 'the client left' });
            return;
          }
          this.link.start();
          this.emit('connect');
        },
        (error: unknown) => {
          finish('open_failed');
          log.info({ err: error }, 'the app could not be reached');
          this.destroy(new AppUnreachableError((error as Error).message));
        },
      );
    this.once('close', () => finish('client_closed'));
  }

  override _read(): void {
    if (this.uncredited === 0) return;
    const bytes = this.uncredited;
    this.uncredited = 0;
    this.link.consumed(bytes);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.link.closed) return callback(new Error('the connection to the app is closed'));
    this.options.metrics.sessionBytes.inc({ type: 'WEB', direction: 'from_client' }, chunk.length);
    if (this.link.write(SESSION_CHANNELS.stdin, chunk)) return callback();
    this.waitingWrite = () => callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.link.eof();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.link.closed) this.link.close(error ? error.message : 'the client closed the connection');
    callback(error);
  }

  // What node's HTTP client and http-proxy ask of a net.Socket; a link has no such knobs.
  setTimeout(): this {
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}

/** An HTTP Agent whose every connection is a LinkSocket to one app: one link per exchange (no keep-alive). */
export class LinkAgent extends Agent {
  constructor(
    private readonly socketOptions: LinkSocketOptions,
    agentOptions: AgentOptions = {},
  ) {
    super({ ...agentOptions, keepAlive: false });
  }

  override createConnection(): Duplex {
    return new LinkSocket(this.socketOptions);
  }
}
