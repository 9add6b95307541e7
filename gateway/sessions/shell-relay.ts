/**
 * One SHELL or VNC session on the gateway: the client's websocket, speaking
 * `v5.channel.k8s.io` (k8s-channels.ts) or RFB over binary messages
 * (client-protocols.ts), relayed to the provider over the session link
 * (shared/session-link.ts). Flow control end to end: bytes from
 * the provider are credited back only once the client's socket took them
 * (the websocket's send callback), so a client that stops reading pauses the
 * shell, and this replica holds at most one window of the session's output;
 * the client's input is read no faster than the provider grants room (the
 * websocket is paused meanwhile). The session ends with a reason, whoever
 * ends it: the shell exits (its code on the error channel), the client
 * leaves, the provider closes it or stops answering, the credential expires,
 * the job ends, or the gateway stops.
 */
import { randomUUID } from 'node:crypto';
import { WebSocket } from 'ws';

import type { Logger } from '../../shared/logger.js';
import { createSessionLink, SESSION_CHANNELS } from '../../shared/session-link.js';
import type { Transport } from '../../shared/transport.js';
import type { GatewayMetrics } from '../metrics.js';
import type { ProviderClient } from '../registry/provider-client.js';
import type { ClientProtocol } from './client-protocols.js';
import { CHANNEL } from './k8s-channels.js';
import type { SessionGrant } from './session-credentials.js';

/** How a session ended; a bounded label of the duration metric. */
export type SessionOutcome =
  'exited' | 'client_closed' | 'provider_closed' | 'provider_lost' | 'expired' | 'job_ended' | 'protocol_error' | 'open_failed' | 'gateway_stopping';

/** The websocket close code each ending gives the client (RFC 6455 section 7.4.1). */
const CLOSE_CODES: Record<SessionOutcome, number> = {
  exited: 1000,
  client_closed: 1000,
  provider_closed: 1011,
  provider_lost: 1011,
  expired: 1008,
  job_ended: 1000,
  protocol_error: 1002,
  open_failed: 1011,
  gateway_stopping: 1001,
};

/** A close frame's reason holds at most 123 bytes. */
function closeReason(reason: string): string {
  const bytes = Buffer.from(reason, 'utf8');
  return bytes.length <= 123
    ? reason
    : `${bytes
        .subarray(0, 120)
        .toString('utf8')
        .replace(/\uFFFD$/, '')}…`;
}

export interface ShellRelayOptions {
  socket: WebSocket;
  /** What the socket speaks (the session type's: client-protocols.ts). */
  protocol: ClientProtocol;
  grant: SessionGrant;
  transport: Transport;
  /** The job's provider, through its circuit breaker. */
  provider: ProviderClient;
  metrics: GatewayMetrics;
  logger: Logger;
  /** Bytes of the provider's output this gateway takes in flight per session. */
  window: number;
  heartbeatMs: number;
  missedHeartbeats: number;
  /** The shell named in the exit Status. */
  command?: string;
  /** Once the provider has opened the session. */
  onOpened(): void;
  /** Once, however it ended. */
  onEnded(outcome: SessionOutcome, reason: string): void;
}

export interface ShellRelay {
  readonly sessionId: string;
  /** End the session from the gateway's side (expiry, the job's end, shutdown). */
  close(outcome: SessionOutcome, reason: string): void;
}

export function relayShell(options: ShellRelayOptions): ShellRelay {
  const { socket, protocol, grant, transport, metrics, window } = options;
  const { type, providerId } = grant;
  const sessionId = randomUUID();
  const subjects = transport.subjects;
  const log = options.logger.child({ sessionId, jobId: grant.jobId, rank: grant.rank, user: grant.username });
  const started = performance.now();
  let ended = false;
  let opened = false;
  /** The exit code the provider sent; undefined until it did. */
  let exitCode: number | null | undefined;
  let waiting = false;

  /** Whether the provider has no room left (the client is a window behind), for the gauge. */
  const updateWaiting = () => {
    const stats = link.stats();
    const now = !link.closed && stats.grantedToPeer === stats.received;
    if (now === waiting) return;
    waiting = now;
    if (now) metrics.sessionsWaitingForClient.inc();
    else metrics.sessionsWaitingForClient.dec();
  };

  const finish = (outcome: SessionOutcome, reason: string) => {
    if (ended) return;
    ended = true;
    link.close(reason);
    updateWaiting();
    if (socket.readyState === WebSocket.OPEN) {
      const last =
        outcome === 'exited'
          ? protocol.lastWords({ exited: true, exitCode: exitCode ?? null, command: options.command ?? 'shell' })
          : outcome !== 'client_closed'
            ? protocol.lastWords({ exited: false, reason })
            : null;
      if (last) socket.send(last);
      socket.close(CLOSE_CODES[outcome], closeReason(reason));
    }
    metrics.sessionsOpen.dec({ type });
    metrics.sessionDuration.observe({ type, outcome }, (performance.now() - started) / 1000);
    log.info({ outcome, reason }, 'session ended');
    options.onEnded(outcome, reason);
  };

  const link = createSessionLink({
    transport,
    sendSubject: subjects.sessionToProvider(providerId, sessionId),
    receiveSubject: subjects.sessionToGateway(providerId, sessionId),
    window,
    heartbeatMs: options.heartbeatMs,
    missedHeartbeats: options.missedHeartbeats,
    handlers: {
      onData(channel, bytes) {
        const message = protocol.encode(channel, bytes);
        if (message === null) return link.consumed(bytes.length);
        metrics.sessionBufferedBytes.inc(bytes.length);
        updateWaiting();
        socket.send(message, { binary: true }, (error) => {
          metrics.sessionBufferedBytes.dec(bytes.length);
          if (error) return;
          metrics.sessionBytes.inc({ type, direction: 'to_client' }, bytes.length);
          link.consumed(bytes.length);
          updateWaiting();
        });
      },
      // The provider has room for input again: read the client's.
      onDrain: () => socket.resume(),
      onExit: (code) => {
        exitCode = code;
      },
      onClose(reason, by) {
        if (by === 'local') return;
        if (by === 'lost') return finish('provider_lost', `the provider stopped answering (${reason})`);
        finish(exitCode !== undefined ? 'exited' : 'provider_closed', reason);
      },
    },
  });

  socket.on('message', (data: Buffer, isBinary: boolean) => {
    if (ended) return;
    if (!isBinary) return finish('protocol_error', `${protocol.subprotocol} messages are binary`);
    const message = protocol.decode(data);
    switch (message.kind) {
      case 'stdin':
        metrics.sessionBytes.inc({ type, direction: 'from_client' }, message.data.length);
        // No room at the provider: stop reading the client's socket until it grants some.
        if (!link.write(SESSION_CHANNELS.stdin, message.data)) socket.pause();
        return;
      case 'resize':
        return link.resize({ cols: message.cols, rows: message.rows });
      case 'close':
        if (message.channel === CHANNEL.stdin) link.eof();
        return;
      case 'invalid':
        return finish('protocol_error', message.reason);
    }
  });
  socket.on('close', () => finish('client_closed', 'the client closed the session'));
  socket.on('error', (error) => log.info({ err: error }, 'session websocket failed'));

  metrics.sessionsOpen.inc({ type });
  options.provider
    .call('jobs.session', {
      op: 'open',
      sessionId,
      jobId: grant.jobId,
      rank: grant.rank,
      type,
      size: { cols: 80, rows: 24 },
      window,
      heartbeatMs: options.heartbeatMs,
      missedHeartbeats: options.missedHeartbeats,
    })
    .then(
      () => {
        if (ended) {
          // Ended while the provider opened it: it listens now, so tell it again.
          transport.publish(subjects.sessionToProvider(providerId, sessionId), { v: 1, type: 'close', reason: 'the client left' });
          return;
        }
        opened = true;
        link.start();
        const opening = protocol.opening?.();
        if (opening) link.write(SESSION_CHANNELS.stdin, opening);
        log.info('session open');
        options.onOpened();
      },
      (error: unknown) => finish('open_failed', `The session could not be opened: ${(error as Error).message}`),
    );

  return {
    sessionId,
    close(outcome, reason) {
      if (!opened && outcome !== 'gateway_stopping') return finish('open_failed', reason);
      finish(outcome, reason);
    },
  };
}
