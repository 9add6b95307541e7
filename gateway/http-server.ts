/**
 * The gateway's HTTP surface: /graphql (Yoga, with followJob over SSE and
 * websocket), /healthz, /readyz, /metrics and POST /api/v1/token.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { useServer } from 'graphql-ws/use/ws';
import type { YogaServerInstance } from 'graphql-yoga';
import { WebSocketServer } from 'ws';
import { z } from 'zod';
import type { Logger } from '../shared/logger.js';
import type { Auth } from './auth.js';
import type { GatewayContext } from './graphql/resolvers.js';
import type { GatewayMetrics } from './metrics.js';

const MAX_TOKEN_BODY = 64 * 1024;
const tokenRequestSchema = z.object({ username: z.string().min(1).max(64), password: z.string().min(1).max(1024) });

export interface GatewayHttpOptions {
  yoga: YogaServerInstance<Record<string, unknown>, GatewayContext>;
  auth: Auth;
  metrics: GatewayMetrics;
  logger: Logger;
  /** Resolves with the names of what is not ready; empty when ready. */
  readiness: () => Promise<string[]>;
  /** Refreshes gauges that are read from the store just before a scrape. */
  beforeScrape?: () => Promise<void>;
}

export interface GatewayHttpServer {
  readonly server: Server;
  listen(port: number, host: string): Promise<AddressInfo>;
  /** Readiness answers 503 from now on. */
  drain(): void;
  close(): Promise<void>;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage, limit: number): Promise<string | null> {
  let size = 0;
  const parts: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) return null;
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts).toString('utf8');
}

export function createGatewayHttpServer(options: GatewayHttpOptions): GatewayHttpServer {
  const { yoga, auth, metrics, logger } = options;
  let draining = false;

  const tokenEndpoint = async (req: IncomingMessage, res: ServerResponse) => {
    const text = await readBody(req, MAX_TOKEN_BODY);
    if (text === null) return sendJson(res, 413, { error: { code: 'INVALID_INPUT', message: 'request body too large' } });
    let parsed: z.infer<typeof tokenRequestSchema>;
    try {
      parsed = tokenRequestSchema.parse(JSON.parse(text));
    } catch {
      return sendJson(res, 400, { error: { code: 'INVALID_INPUT', message: 'send JSON {"username": "...", "password": "..."}' } });
    }
    const issued = await auth.issueToken(parsed.username, parsed.password);
    if (!issued) return sendJson(res, 401, { error: { code: 'UNAUTHENTICATED', message: 'wrong user name or password' } });
    sendJson(res, 200, { token: issued.token, user: issued.user, expiresAt: new Date(issued.expiresAt).toISOString() });
  };

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const handle = async () => {
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
      return yoga(req, res);
    };
    handle().catch((error: unknown) => {
      logger.error({ err: error, path }, 'request failed');
      if (!res.headersSent) sendJson(res, 500, { error: { code: 'INTERNAL', message: 'Internal error' } });
      else res.destroy();
    });
  });

  const wsServer = new WebSocketServer({ server, path: yoga.graphqlEndpoint });
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
        const args = {
          schema,
          operationName: params.operationName,
          document: parse(params.query),
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
      await wsCleanup.dispose();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
