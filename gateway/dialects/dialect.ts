/**
 * What a dialect is: another platform's API served by the gateway under its
 * own path prefix, on the one core. A dialect translates requests and answers;
 * every job it creates, reads or stops goes through the orchestrator and the
 * access rules the GraphQL resolvers use (dialects/README.md).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { Auth } from '../access/auth.js';
import type { Projects } from '../access/projects.js';
import type { Accounting } from '../accounting/accounting.js';
import type { RequestLimits } from '../graphql/plugins/use-request-limits.js';
import type { JobFeed } from '../jobs/job-feed.js';
import type { Orchestrator } from '../jobs/orchestrator.js';
import type { GatewayMetrics } from '../metrics.js';
import type { ProviderRegistry } from '../registry/provider-registry.js';
import type { UtilizationCache } from '../registry/utilization-cache.js';
import type { Schedules } from '../schedules/schedules.js';
import type { Services } from '../services/services.js';
import type { SessionEndpoint } from '../sessions/session-endpoint.js';
import type { SessionOpener } from '../sessions/session-opener.js';
import type { Store } from '../store/store.js';
import type { ApoloTokens } from './apolo/apolo-tokens.js';

/** The core a dialect works on: the same parts the GraphQL resolvers get. */
export interface DialectCore {
  auth: Auth;
  orchestrator: Orchestrator;
  registry: ProviderRegistry;
  utilization: UtilizationCache;
  metrics: GatewayMetrics;
  logger: Logger;
  clock: Clock;
  /** Bytes in one request body; more is refused as the platform refuses it. */
  maxBodyBytes: number;
  /** Proxies in front whose X-Forwarded-For is believed, for login throttling by address. */
  trustedProxyHops: number;
  /**
   * The store, for what the access rules read (the Project header's project, tokens), a job's stored
   * logs, a platform's credentials (Backend.AI key pairs) and records a dialect keeps beside jobs
   * (the Shakudo git servers: `store.repositories`).
   */
  store: Store;
  /** Every job's changes as they happen (followJob's source). */
  feed: JobFeed;
  /** Wallets and balances, as Query.wallets and Product.balance answer them. */
  accounting: Accounting;
  /** Interactive sessions, as openInteractiveSessions opens them. */
  sessions: SessionOpener;
  /**
   * A key for a dialect's own signed tokens, one per purpose and the same on
   * every replica (derived from the administrator token: rotating it voids them).
   */
  signingKey(purpose: string): Uint8Array;
  /** Cron schedules (a dialect's scheduled jobs) and kept-running services, as the core API has them. */
  schedules: Schedules;
  services: Services;
  /** Projects, for a dialect's billing projects. */
  projects: Projects;
  /** The GraphQL request limits (aliases, depth, tokens, cost, body), for a dialect that serves GraphQL. */
  requestLimits: RequestLimits;
  /** The session endpoint's credential check and relay, for a dialect's own terminal websocket (Apolo's exec). */
  sessionEndpoint: Pick<SessionEndpoint, 'admitCredential' | 'relay'>;
  /** The gateway's URL as clients reach it (SWITCHYARD_PUBLIC_URL); null: the URL each request came to. */
  publicUrl: string | null;
  /** Apolo's JWTs (apolo/apolo-tokens.ts), the same the GraphQL API issues. */
  apoloTokens: ApoloTokens;
}

/** One platform's API, mounted. */
export interface Dialect {
  readonly name: string;
  /** The path prefix it answers under, without a trailing slash: "/openpai". */
  readonly prefix: string;
  /** Answers one request under the prefix, errors included, in the platform's shapes. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** Answers a websocket upgrade under the prefix, when the platform has websockets (refusing it otherwise). */
  upgrade?(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Ends what it holds open (its websockets) as the gateway stops. */
  close?(): Promise<void>;
}

/** A dialect as the gateway knows it before it is switched on. */
export interface DialectModule {
  readonly name: string;
  readonly prefix: string;
  create(core: DialectCore): Dialect;
}

/** The dialect whose prefix the path is under, if any. */
export function dialectFor(dialects: readonly Dialect[], path: string): Dialect | undefined {
  return dialects.find((dialect) => path === dialect.prefix || path.startsWith(`${dialect.prefix}/`));
}

/** The request's path below the dialect's prefix ("/" at least), and its query. */
export function pathBelow(dialect: Pick<Dialect, 'prefix'>, req: IncomingMessage): { path: string; query: URLSearchParams } {
  const [rawPath = '/', rawQuery = ''] = (req.url ?? '/').split('?', 2);
  return { path: rawPath.slice(dialect.prefix.length) || '/', query: new URLSearchParams(rawQuery) };
}

/** A request handler of a dialect with routes by pattern: the path's captured parts, decoded, as `params`. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse, params: string[], query: URLSearchParams) => Promise<void>;

/** A route by method and path pattern. */
export interface PatternRoute {
  method: string;
  path: RegExp;
  handler: RouteHandler;
}

/**
 * The first route of the request's method whose pattern matches `path`, with the captured parts
 * percent-decoded; null when none does. A part that is no valid percent-encoding throws `badEncoding()`.
 */
export function matchRoute(
  routes: readonly PatternRoute[],
  method: string | undefined,
  path: string,
  badEncoding: () => Error,
): { handler: RouteHandler; params: string[] } | null {
  for (const route of routes) {
    const match = route.method === method ? route.path.exec(path) : null;
    if (!match) continue;
    try {
      return { handler: route.handler, params: match.slice(1).map((part) => decodeURIComponent(part)) };
    } catch {
      throw badEncoding();
    }
  }
  return null;
}
