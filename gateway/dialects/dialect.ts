/**
 * What a dialect is: another platform's API served by the gateway under its
 * own path prefix, on the one core. A dialect translates requests and answers;
 * every job it creates, reads or stops goes through the orchestrator and the
 * access rules the GraphQL resolvers use (dialects/README.md).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { Auth } from '../access/auth.js';
import type { JobFeed } from '../jobs/job-feed.js';
import type { Orchestrator } from '../jobs/orchestrator.js';
import type { GatewayMetrics } from '../metrics.js';
import type { ProviderRegistry } from '../registry/provider-registry.js';
import type { UtilizationCache } from '../registry/utilization-cache.js';
import type { Store } from '../store/store.js';

/** The core a dialect works on: the same parts the GraphQL resolvers get. */
export interface DialectCore {
  auth: Auth;
  orchestrator: Orchestrator;
  registry: ProviderRegistry;
  utilization: UtilizationCache;
  /** Job logs and a platform's credentials (Backend.AI key pairs), as the resolvers read them. */
  store: Store;
  /** Every change of a job, as followJob hears it: what a platform's event stream is made of. */
  feed: JobFeed;
  metrics: GatewayMetrics;
  logger: Logger;
  clock: Clock;
  /** Bytes in one request body; more is refused as the platform refuses it. */
  maxBodyBytes: number;
  /** Proxies in front whose X-Forwarded-For is believed, for login throttling by address. */
  trustedProxyHops: number;
}

/** One platform's API, mounted. */
export interface Dialect {
  readonly name: string;
  /** The path prefix it answers under, without a trailing slash: "/openpai". */
  readonly prefix: string;
  /** Answers one request under the prefix, errors included, in the platform's shapes. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
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
