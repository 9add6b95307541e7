/**
 * The gateway's HTTP surface: /graphql (Yoga, with followJob over SSE and
 * websocket), /healthz, /readyz, /metrics, POST /api/v1/token, GET /api/v1/sso
 * (the issuers a command line may sign in with), the sessions' websockets and
 * browser pages (/api/v1/sessions/...), the web dashboard (/ui), and the
 * dialects that are switched on, each under its own path prefix (dialects/README.md).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { useServer } from 'graphql-ws/use/ws';
import type { YogaServerInstance } from 'graphql-yoga';
import { WebSocketServer } from 'ws';
import { z } from 'zod';

import type { Logger } from '../shared/logger.js';
import { LoginThrottledError, type Auth } from './access/auth.js';
import type { CommandLineSignIn } from './access/oidc-config.js';
import { dialectFor, type Dialect } from './dialects/dialect.js';
import { DEFAULT_REQUEST_LIMITS } from './graphql/plugins/use-request-limits.js';
import type { GatewayContext } from './graphql/resolvers.js';
import { readBody, sendJson } from './http-io.js';
import type { GatewayMetrics } from './metrics.js';
import type { DashboardFiles } from './pages/dashboard-files.js';
import type { SessionPages } from './pages/session-pages.js';
import type { SessionEndpoint } from './sessions/session-endpoint.js';
import type { WebEndpoint } from './sessions/web-endpoint.js';

/** Text that is valid Unicode: a lone surrogate cannot be a name or a password anyone typed. */
const wellFormed = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    // With the u flag a valid surrogate pair is one code point: \p{Cs} matches only a lone half.
    .refine((text) => !/\p{Cs}/u.test(text), 'must be valid Unicode text');
const tokenRequestSchema = z.object({ username: wellFormed(64), password: wellFormed(1024) });

export interface GatewayHttpOptions {
  yoga: YogaServerInstance<Record<string, unknown>, GatewayContext>;
  auth: Auth;
  metrics: GatewayMetrics;
  logger: Logger;
  /** Resolves with the names of what is not ready; empty when ready. */
  readiness: () => Promise<string[]>;
  /** Where interactive sessions' websockets are opened (/api/v1/sessions/...). */
  sessions?: SessionEndpoint;
  /** The sessions' browser pages: a session's URL fetched, not upgraded. */
  pages?: SessionPages;
  /** The web dashboard's files (/ui). */
  dashboard?: DashboardFiles;
  /** WEB sessions' apps, proxied (/api/v1/sessions/web/...): their requests and websockets. */
  webSessions?: WebEndpoint;
  /** The OpenID issuers a command line may sign in with, answered at GET /api/v1/sso. @default [] */
  commandLineSignIns?: readonly CommandLineSignIn[];
  /** Other platforms' APIs served beside the core one, each under its own path prefix. */
  dialects?: readonly Dialect[];
  /** Refreshes gauges that are read from the store just before a scrape. */
  beforeScrape?: () => Promise<void>;
  /**
   * Bytes in one request body on the REST endpoints and in one websocket
   * message; Yoga holds /graphql to its own limit (the same setting).
   * @default 1048576
   */
  maxBodyBytes?: number;
  /**
   * Reverse proxies in front of the gateway whose X-Forwarded-For entries are
   * believed, for the client address that login throttling counts by; 0
   * takes the connection's peer address and ignores the header.
   * @default 0
   */
  trustedProxyHops?: number;
}

export interface GatewayHttpServer {
  readonly server: Server;
  listen(port: number, host: string): Promise<AddressInfo>;
  /** Readiness answers 503 from now on. */
  drain(): void;
  close(): Promise<void>;
}

/**
 * The client's address: the peer, or with `trustedProxyHops` proxies in front,
 * the entry of X-Forwarded-For that the farthest trusted proxy saw connect
 * (entries further left are the client's say, and anyone can write them).
 */
export function clientAddress(req: IncomingMessage, trustedProxyHops = 0): string {
  const peer = req.socket.remoteAddress ?? 'unknown';
  const forwarded = req.headers['x-forwarded-for'];
  const chain =
    trustedProxyHops > 0 && forwarded
      ? [forwarded]
          .flat()
          .join(',')
          .split(',')
          .map((entry) => entry.trim())
          .filter(Boolean)
      : [];
  // In range: with entries, trustedProxyHops is a whole number of at least 1.
  const address = chain.length > 0 ? chain[Math.max(0, chain.length - trustedProxyHops)]! : peer;
  // An IPv4 client of a dual-stack socket shows as ::ffff:a.b.c.d; it is one client either way.
  return address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
}

export function createGatewayHttpServer(options: GatewayHttpOptions): GatewayHttpServer {
  const { yoga, auth, metrics, logger } = options;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_REQUEST_LIMITS.maxBodyBytes;
  let draining = false;

  const bodyTooLarge = (res: ServerResponse) => {
    metrics.requestsRefused.inc({ reason: 'body_size' });
    // Close rather than read the rest of a body already refused.
    res.setHeader('connection', 'close');
    sendJson(res, 413, { error: { code: 'INVALID_INPUT', message: `The request body is larger than the limit of ${maxBodyBytes} bytes.` } });
  };

  const tokenEndpoint = async (req: IncomingMessage, res: ServerResponse) => {
    const text = await readBody(req, maxBodyBytes);
    if (text === null) return bodyTooLarge(res);
    let parsed: z.infer<typeof tokenRequestSchema>;
    try {
      parsed = tokenRequestSchema.parse(JSON.parse(text));
    } catch {
      return sendJson(res, 400, { error: { code: 'INVALID_INPUT', message: 'send JSON {"username": "...", "password": "..."}' } });
    }
    let issued: Awaited<ReturnType<Auth['issueToken']>>;
    try {
      issued = await auth.issueToken(parsed.username, parsed.password, clientAddress(req, options.trustedProxyHops));
    } catch (error) {
      if (!(error instanceof LoginThrottledError)) throw error;
      metrics.requestsRefused.inc({ reason: 'login_throttled' });
      res.setHeader('retry-after', String(Math.max(1, Math.ceil(error.retryAfterMs / 1000))));
      return sendJson(res, 429, { error: { code: error.code, message: error.message } });
    }
    if (!issued) return sendJson(res, 401, { error: { code: 'UNAUTHENTICATED', message: 'wrong user name or password' } });
    sendJson(res, 200, { token: issued.token, user: issued.user, expiresAt: new Date(issued.expiresAt).toISOString() });
  };

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const handle = async () => {
      // A job's app takes what bodies it likes; the link carries them with flow control.
      if (options.webSessions?.handles(path ?? '/')) return options.webSessions.request(req, res);
      // A dialect answers every request under its prefix, refusals included, in its platform's shapes.
      const dialect = dialectFor(options.dialects ?? [], path ?? '/');
      if (dialect) return dialect.handle(req, res);
      // Yoga holds /graphql to the limit itself, streamed bodies included; every other endpoint is held here.
      if (path !== yoga.graphqlEndpoint && Number(req.headers['content-length'] ?? 0) > maxBodyBytes) return bodyTooLarge(res);
      if (path === '/healthz' && req.method === 'GET') return sendJson(res, 200, { status: 'ok' });
      if (path === '/readyz' && req.method === 'GET') {
        if (draining) return sendJson(res, 503, { status: 'draining' });
        const missing = await options.readiness();
        return sendJson(res, missing.length ? 503 : 200, missing.length ? { status: 'not ready', missing } : { status: 'ready' });
      }
      if (path === '/metrics' && req.method === 'GET') {
        await options.beforeScrape?.();
        const text = await metrics.registry.metrics();
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        return res.end(text);
      }
      if (path === '/api/v1/token') {
        if (req.method !== 'POST') return sendJson(res, 405, { error: { code: 'INVALID_INPUT', message: 'use POST' } });
        return tokenEndpoint(req, res);
      }
      if (path === '/api/v1/sso' && req.method === 'GET') return sendJson(res, 200, { issuers: options.commandLineSignIns ?? [] });
      if (path && options.pages?.handles(path)) return options.pages.serve(req, res);
      if (path && options.dashboard?.handles(path)) return options.dashboard.serve(req, res);
      return yoga(req, res);
    };
    handle().catch((error: unknown) => {
      logger.error({ err: error, path }, 'request failed');
      if (!res.headersSent) sendJson(res, 500, { error: { code: 'INTERNAL', message: 'Internal error' } });
      else res.destroy();
    });
  });

  // A message over the limit closes the socket with 1009 (message too big) before it is parsed.
  const wsServer = new WebSocketServer({ noServer: true, maxPayload: maxBodyBytes });
  // One upgrade listener for every websocket the gateway serves: each ws server alone would refuse the others' paths.
  server.on('upgrade', (req: IncomingMessage, socket, head: Buffer) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path === yoga.graphqlEndpoint) return wsServer.handleUpgrade(req, socket, head, (ws) => wsServer.emit('connection', ws, req));
    if (options.sessions?.handles(path)) return options.sessions.upgrade(req, socket, head);
    if (options.webSessions?.handles(path)) return options.webSessions.upgrade(req, socket, head);
    const dialect = dialectFor(options.dialects ?? [], path);
    if (dialect?.upgrade) return dialect.upgrade(req, socket, head);
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  wsServer.on('connection', (socket) =>
    socket.on('error', (error: Error & { code?: string }) => {
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') metrics.requestsRefused.inc({ reason: 'body_size' });
    }),
  );
  const wsCleanup = useServer(
    {
      // Refuse the connection itself without a valid token: graphql-ws closes it with 4403.
      onConnect: async (ctx) => {
        const params = ctx.connectionParams ?? {};
        const header = params.Authorization ?? params.authorization ?? ctx.extra.request.headers.authorization;
        return auth.authenticate(typeof header === 'string' ? header : undefined).then(
          () => true,
          () => false,
        );
      },
      execute: (args) => (args.rootValue as { execute: (a: unknown) => unknown }).execute(args) as never,
      subscribe: (args) => (args.rootValue as { subscribe: (a: unknown) => unknown }).subscribe(args) as never,
      onSubscribe: async (ctx, _id, params) => {
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
        });
        let contextValue: unknown;
        try {
          contextValue = await contextFactory();
        } catch (error) {
          return [error as never];
        }
        let document: ReturnType<typeof parse>;
        try {
          // Over the token limit (or not GraphQL at all), parse throws: an error message to the client, not a closed socket.
          document = parse(params.query);
        } catch (error) {
          return [error as never];
        }
        const args = {
          schema,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue,
          rootValue: { execute, subscribe },
        };
        const errors = validate(args.schema, args.document);
        if (errors.length) return errors;
        return args;
      },
    },
    wsServer,
  );

  return {
    server,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve(server.address() as AddressInfo));
      });
    },
    drain() {
      draining = true;
    },
    async close() {
      draining = true;
      await options.sessions?.close();
      options.webSessions?.close();
      for (const dialect of options.dialects ?? []) dialect.close?.();
      await wsCleanup.dispose();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
