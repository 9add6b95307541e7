/**
 * Where clients open the sessions they were given a URL for:
 * `GET /api/v1/sessions/shell?token=<credential>` upgraded to a websocket
 * (`v5.channel.k8s.io`), `GET /api/v1/sessions/vnc?token=…` likewise (RFB
 * over binary messages, subprotocol `binary`: client-protocols.ts). The upgrade is refused, before any websocket exists,
 * for a credential that is expired, tampered with or not a session's (401),
 * a user who may no longer act on the job (404, as elsewhere), and a job that
 * is no longer running (409). Any replica serves any session: the credential
 * carries what it grants and the secret is shared. The session's opening and
 * end are written on the job as status updates.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

import type { Clock } from '../../shared/clock.js';
import type { InteractiveSessionType } from '../../shared/domain.js';
import { isFinalState } from '../../shared/job-state-machine.js';
import type { Logger } from '../../shared/logger.js';
import type { Transport } from '../../shared/transport.js';
import type { Auth } from '../access/auth.js';
import type { ChangeJob } from '../jobs/job-changes.js';
import type { JobFeed } from '../jobs/job-feed.js';
import type { GatewayMetrics } from '../metrics.js';
import type { ProviderRegistry } from '../registry/provider-registry.js';
import type { Store } from '../store/store.js';
import { CLIENT_PROTOCOLS, type ClientProtocol } from './client-protocols.js';
import { createSessionAdmission, refuseOnSocket, SessionRefusal, STOPPING } from './session-admission.js';
import type { SessionCredentials, SessionGrant } from './session-credentials.js';
import { sessionPath } from './session-opener.js';
import { relayShell, type ShellRelay } from './shell-relay.js';

/** Session settings; each has a gateway setting (config.ts). */
export interface SessionLimits {
  /**
   * Bytes of one session's output the gateway takes in flight, per session.
   * @default 262144
   */
  windowBytes: number;
  /** @default 2000 */
  heartbeatMs: number;
  /** @default 3 */
  missedHeartbeats: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = { windowBytes: 256 * 1024, heartbeatMs: 2_000, missedHeartbeats: 3 };

/** The session link's settings, as a relay takes them. */
export function linkSettings(limits: SessionLimits): { window: number; heartbeatMs: number; missedHeartbeats: number } {
  return { window: limits.windowBytes, heartbeatMs: limits.heartbeatMs, missedHeartbeats: limits.missedHeartbeats };
}

export interface SessionEndpointOptions {
  transport: Transport;
  store: Store;
  registry: ProviderRegistry;
  auth: Auth;
  credentials: SessionCredentials;
  change: ChangeJob;
  feed: JobFeed;
  metrics: GatewayMetrics;
  logger: Logger;
  clock: Clock;
  limits?: Partial<SessionLimits>;
  /** Bytes in one websocket message from a client. */
  maxMessageBytes: number;
}

export interface SessionEndpoint {
  /** Whether a request path is one this endpoint upgrades. */
  handles(path: string): boolean;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /**
   * The grant of the request's credential for a session of `type`, checked as an upgrade is
   * (the browser pages ask before they connect); throws a SessionRefusal.
   */
  admit(req: IncomingMessage, type: InteractiveSessionType): Promise<SessionGrant>;
  /** The grant of a credential (from openInteractiveSessions) for a session of `type`, checked as an upgrade is; throws a SessionRefusal. */
  admitCredential(credential: string | null, type: InteractiveSessionType): Promise<SessionGrant>;
  /**
   * Relay a websocket a dialect upgraded as the grant's session, in the dialect's framing
   * (`protocol`), with everything a session here has: its opening and end written on the job,
   * its end with the credential or the job, and its end when the gateway stops.
   */
  relay(socket: WebSocket, grant: SessionGrant, protocol: ClientProtocol): void;
  /** Sessions this replica relays now. */
  readonly open: number;
  /** End every session ("the gateway is stopping") and refuse new ones. */
  close(): Promise<void>;
}

/** The credential from `?token=`, or from `Authorization: Bearer` for clients that can set headers. */
export function credentialOf(req: IncomingMessage): string | null {
  const url = new URL(req.url ?? '/', 'http://gateway');
  const fromQuery = url.searchParams.get('token');
  if (fromQuery) return fromQuery;
  const match = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  return match?.[1] ?? null;
}

export function createSessionEndpoint(options: SessionEndpointOptions): SessionEndpoint {
  const { registry, change, feed, metrics, logger, clock } = options;
  const admission = createSessionAdmission(options);
  const limits = { ...DEFAULT_SESSION_LIMITS, ...options.limits };
  const relays = new Set<ShellRelay>();
  let closing = false;
  /** Each websocket session type at its path, with its protocol and a server that agrees on it. */
  const served = new Map(
    Object.entries(CLIENT_PROTOCOLS).map(([type, protocol]) => [
      sessionPath(type as InteractiveSessionType),
      {
        type: type as InteractiveSessionType,
        protocol,
        wss: new WebSocketServer({
          noServer: true,
          maxPayload: options.maxMessageBytes,
          perMessageDeflate: false,
          // A client that asks for other subprotocols only gets none and fails; one that asks for none is served.
          handleProtocols: (protocols) => (protocols.has(protocol.subprotocol) ? protocol.subprotocol : false),
        }),
      },
    ]),
  );
  const pathOf = (req: IncomingMessage) => new URL(req.url ?? '/', 'http://gateway').pathname;

  /** The grant of the request's credential, still good now: the user may act on the job, and it runs. */
  const admitCredential = async (credential: string | null, type: InteractiveSessionType): Promise<SessionGrant> => {
    if (closing) throw STOPPING();
    const grant = await admission.admit(credential);
    if (grant.type !== type) throw new SessionRefusal(400, 'INVALID_INPUT', `This credential is for a ${grant.type} session, not a ${type} one`);
    return grant;
  };
  const admit = (req: IncomingMessage, type: InteractiveSessionType) => admitCredential(credentialOf(req), type);

  const start = (socket: WebSocket, grant: SessionGrant, protocol: ClientProtocol) => {
    const where = `${grant.type} session on rank ${grant.rank} (${grant.username})`;
    let stopListening = () => {};
    let expiry: NodeJS.Timeout | null = null;
    const relay = relayShell({
      socket,
      protocol,
      grant,
      transport: options.transport,
      provider: registry.require(grant.providerId).client,
      metrics,
      logger,
      ...linkSettings(limits),
      onOpened: () => {
        void change(grant.jobId, { status: `Interactive ${where} opened`, timestamp: clock.now() }).catch((err: unknown) =>
          logger.warn({ err, jobId: grant.jobId }, 'could not record the opening of a session'),
        );
      },
      onEnded: (outcome, reason) => {
        relays.delete(relay);
        stopListening();
        if (expiry) clearTimeout(expiry);
        if (outcome === 'open_failed') return;
        void change(grant.jobId, { status: `Interactive ${where} ended: ${reason}`, timestamp: clock.now() }).catch((err: unknown) =>
          logger.warn({ err, jobId: grant.jobId }, 'could not record the end of a session'),
        );
      },
    });
    relays.add(relay);
    // A session lasts as long as its credential, and no longer than the job.
    expiry = setTimeout(() => relay.close('expired', 'The session credential expired'), Math.max(0, grant.expiresAt - clock.now()));
    expiry.unref();
    stopListening = feed.listen(grant.jobId, (event) => {
      if (event.status && isFinalState(event.status.state)) relay.close('job_ended', `The job ended (${event.status.state})`);
    });
  };

  return {
    handles: (path) => served.has(path),
    admit,
    admitCredential,
    relay(socket, grant, protocol) {
      if (closing) return void socket.close(1001, 'The gateway is stopping; open the session again');
      start(socket, grant, protocol);
    },
    upgrade(req, socket, head) {
      const route = served.get(pathOf(req));
      if (!route) return refuseOnSocket(socket, new SessionRefusal(404, 'NOT_FOUND', 'No such session endpoint'));
      const { type, protocol, wss } = route;
      admit(req, type).then(
        (grant) => {
          if (closing) return refuseOnSocket(socket, STOPPING());
          wss.handleUpgrade(req, socket, head, (ws) => {
            try {
              start(ws, grant, protocol);
            } catch (error) {
              // The provider went away between the check and the upgrade.
              logger.warn({ err: error, jobId: grant.jobId }, 'session could not start');
              ws.close(1011, 'The provider is not connected; open the session again');
            }
          });
        },
        (error: unknown) => {
          if (error instanceof SessionRefusal) return refuseOnSocket(socket, error);
          logger.error({ err: error }, 'session upgrade failed');
          refuseOnSocket(socket, new SessionRefusal(500, 'INTERNAL', 'Internal error'));
        },
      );
    },
    get open() {
      return relays.size;
    },
    async close() {
      closing = true;
      for (const relay of [...relays]) relay.close('gateway_stopping', 'The gateway is stopping; open the session again');
      await Promise.all([...served.values()].map(({ wss }) => new Promise<void>((resolve) => wss.close(() => resolve()))));
    },
  };
}
