/**
 * WEB sessions: a reverse proxy from the gateway to a port a job's app
 * listens on, under the app's own prefix (web-paths.ts).
 *
 * The URL openInteractiveSessions answers carries the credential
 * (`?token=`); that first visit sets it as a cookie scoped to the prefix
 * (HttpOnly, SameSite=Lax, as long as the credential lasts) and redirects to
 * the same page without it, so the app's later requests, websockets
 * included, carry it and nothing of it shows in the app's URLs. Every
 * request is admitted again (session-admission.ts): a credential that
 * expired, a user who may no longer act on the job, a job that ended, are
 * refused there, on any replica.
 *
 * Each HTTP exchange, and each websocket, travels to the provider as a
 * connection of its own over a session link (link-socket.ts), through
 * node's HTTP client and http-proxy-3; the provider connects it to the port
 * on the rank's host. The app sees paths from its own `/` (its redirects
 * and cookie paths moved back under the prefix) unless the credential says
 * keepPathPrefix, and `X-Forwarded-Prefix`, `-Host`, `-Proto` and `-For`.
 * The session cookie never reaches it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { createProxyServer } from 'http-proxy-3';

import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { Transport } from '../../shared/transport.js';
import type { ChangeJob } from '../jobs/job-changes.js';
import type { GatewayMetrics } from '../metrics.js';
import type { ProviderRegistry } from '../registry/provider-registry.js';
import { AppUnreachableError, LinkAgent } from './link-socket.js';
import { refusalBody, refuseOnSocket, SessionRefusal, STOPPING, type SessionAdmission } from './session-admission.js';
import type { SessionGrant } from './session-credentials.js';
import { linkSettings, type SessionLimits } from './session-endpoint.js';
import {
  cookieValue,
  isWebSessionPath,
  parseWebSessionPath,
  rewriteCookiePath,
  rewriteLocation,
  webSessionPrefix,
  withoutCookie,
  type WebTarget,
} from './web-paths.js';

/** The cookie that holds a WEB session's credential, scoped to its prefix. */
export const WEB_SESSION_COOKIE = 'switchyard_session';

export interface WebEndpointOptions {
  transport: Transport;
  registry: ProviderRegistry;
  admission: SessionAdmission;
  change: ChangeJob;
  metrics: GatewayMetrics;
  logger: Logger;
  clock: Clock;
  limits: SessionLimits;
  /** The gateway's URL as clients reach it (its path prefixes every path a client sees); null: the request's. */
  publicUrl: string | null;
}

export interface WebEndpoint {
  /** Whether a request path is a WEB session's. */
  handles(path: string): boolean;
  request(req: IncomingMessage, res: ServerResponse): void;
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Refuse new requests and end the websockets open through this replica. */
  close(): void;
}

type Admitted = SessionGrant & { port: number };

function sendRefusal(res: ServerResponse, refusal: SessionRefusal): void {
  const body = refusalBody(refusal);
  res.writeHead(refusal.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

export function createWebEndpoint(options: WebEndpointOptions): WebEndpoint {
  const { registry, admission, metrics, logger, clock, limits } = options;
  const publicBase = options.publicUrl ? new URL(options.publicUrl) : null;
  /** The path in front of the gateway's own, as clients see it (a proxy in front that strips it). */
  const publicPath = (publicBase?.pathname ?? '/').replace(/\/+$/, '');
  const secureCookie = publicBase?.protocol === 'https:';
  const proxy = createProxyServer({ xfwd: true });
  /** What each request proxied now needs for its answer. */
  const exchanges = new WeakMap<IncomingMessage, { prefix: string; keep: boolean }>();
  const websockets = new Set<Duplex>();
  let closing = false;

  proxy.on('proxyRes', (proxyRes, req) => {
    const exchange = exchanges.get(req);
    if (!exchange || exchange.keep) return;
    const { location } = proxyRes.headers;
    if (location) proxyRes.headers.location = rewriteLocation(location, exchange.prefix, req.headers.host);
    const cookies = proxyRes.headers['set-cookie'];
    if (cookies) proxyRes.headers['set-cookie'] = cookies.map((cookie) => rewriteCookiePath(cookie, exchange.prefix));
  });

  /** The grant of a credential for this app, admitted now. */
  const admit = async (token: string | null, target: WebTarget): Promise<Admitted> => {
    if (closing) throw STOPPING();
    const grant = await admission.admit(token);
    if (grant.type !== 'WEB' || grant.port === null || grant.jobId !== target.jobId || grant.rank !== target.rank || grant.port !== target.port) {
      throw new SessionRefusal(401, 'UNAUTHENTICATED', 'This session credential is not for this app; open a WEB session for it');
    }
    return grant as Admitted;
  };

  const agentFor = (grant: Admitted) =>
    new LinkAgent({
      grant,
      transport: options.transport,
      provider: registry.require(grant.providerId).client,
      metrics,
      logger,
      ...linkSettings(limits),
    });

  /** Ready the request for the app: its path as the app sees it, no session cookie, the prefix it is served under. */
  const forApp = (req: IncomingMessage, grant: Admitted, rest: string, query: string) => {
    const prefix = `${publicPath}${webSessionPrefix(grant)}`;
    req.url = grant.keepPathPrefix ? `${webSessionPrefix(grant)}${rest.slice(1)}${query}` : `${rest}${query}`;
    const cookies = withoutCookie(req.headers.cookie, WEB_SESSION_COOKIE);
    if (cookies === null) delete req.headers.cookie;
    else req.headers.cookie = cookies;
    exchanges.set(req, { prefix, keep: grant.keepPathPrefix });
    return { 'x-forwarded-prefix': prefix.replace(/\/$/, '') };
  };

  const unreachable = (grant: Admitted, error: Error) =>
    error instanceof AppUnreachableError
      ? new SessionRefusal(
          502,
          'PROVIDER_UNAVAILABLE',
          `The job's app on port ${grant.port} of rank ${grant.rank} cannot be reached: ${error.message}`,
        )
      : new SessionRefusal(502, 'PROVIDER_UNAVAILABLE', `The connection to the job's app on port ${grant.port} failed: ${error.message}`);

  /** The first visit, with the credential in the URL: the cookie, and the same page without it. */
  const welcome = (res: ServerResponse, grant: Admitted, token: string, rest: string, url: URL) => {
    const prefix = `${publicPath}${webSessionPrefix(grant)}`;
    url.searchParams.delete('token');
    const maxAge = Math.max(0, Math.floor((grant.expiresAt - clock.now()) / 1000));
    const cookie = [
      `${WEB_SESSION_COOKIE}=${token}`,
      `Path=${prefix}`,
      `Max-Age=${maxAge}`,
      'HttpOnly',
      'SameSite=Lax',
      ...(secureCookie ? ['Secure'] : []),
    ];
    res.writeHead(303, {
      location: `${prefix}${rest.slice(1)}${url.search}`,
      'set-cookie': cookie.join('; '),
      'cache-control': 'no-store',
      'content-length': 0,
    });
    res.end();
    const where = `Interactive WEB session on rank ${grant.rank}, port ${grant.port} (${grant.username}) opened`;
    void options
      .change(grant.jobId, { status: where, timestamp: clock.now() })
      .catch((err: unknown) => logger.warn({ err, jobId: grant.jobId }, 'could not record the opening of a session'));
  };

  const request = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://gateway');
    const parsed = parseWebSessionPath(url.pathname);
    if (!parsed) return sendRefusal(res, new SessionRefusal(404, 'NOT_FOUND', 'No WEB session has this path'));
    const { target, rest } = parsed;
    if (rest === null) {
      // The prefix without its slash: the app's relative links need it.
      res.writeHead(308, { location: `${publicPath}${webSessionPrefix(target)}${url.search}`, 'content-length': 0 });
      return res.end();
    }
    const fromUrl = url.searchParams.get('token');
    const grant = await admit(fromUrl ?? cookieValue(req.headers.cookie, WEB_SESSION_COOKIE), target);
    if (fromUrl) return welcome(res, grant, fromUrl, rest, url);
    const headers = forApp(req, grant, rest, url.search);
    proxy.web(req, res, { target: { host: '127.0.0.1', port: grant.port }, agent: agentFor(grant), headers }, (error) => {
      if (!res.headersSent) return sendRefusal(res, unreachable(grant, error));
      res.destroy();
    });
  };

  const upgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://gateway');
    const parsed = parseWebSessionPath(url.pathname);
    if (!parsed?.rest) throw new SessionRefusal(404, 'NOT_FOUND', 'No WEB session has this path');
    // A browser's websocket carries the cookie; another client may give the credential in the URL.
    const fromUrl = url.searchParams.get('token');
    const grant = await admit(fromUrl ?? cookieValue(req.headers.cookie, WEB_SESSION_COOKIE), parsed.target);
    if (fromUrl) url.searchParams.delete('token');
    const headers = forApp(req, grant, parsed.rest, url.search);
    websockets.add(socket);
    // A websocket lasts no longer than its credential.
    const expiry = setTimeout(() => socket.destroy(), Math.max(0, grant.expiresAt - clock.now()));
    expiry.unref();
    socket.once('close', () => {
      clearTimeout(expiry);
      websockets.delete(socket);
    });
    proxy.ws(req, socket, head, { target: { host: '127.0.0.1', port: grant.port }, agent: agentFor(grant), headers }, (error) => {
      if (error instanceof AppUnreachableError && socket.writable) return refuseOnSocket(socket, unreachable(grant, error));
      socket.destroy();
    });
  };

  const failed = (error: unknown) => {
    if (error instanceof SessionRefusal) return error;
    logger.error({ err: error }, 'web session request failed');
    return new SessionRefusal(500, 'INTERNAL', 'Internal error');
  };

  return {
    handles: isWebSessionPath,
    request(req, res) {
      request(req, res).catch((error: unknown) => {
        if (!res.headersSent) sendRefusal(res, failed(error));
        else res.destroy();
      });
    },
    upgrade(req, socket, head) {
      upgrade(req, socket, head).catch((error: unknown) => refuseOnSocket(socket, failed(error)));
    },
    close() {
      closing = true;
      for (const socket of [...websockets]) socket.destroy();
    },
  };
}
