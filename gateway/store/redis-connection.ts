/**
 * One Redis server or a Redis Cluster, behind the same ioredis commands.
 *
 * On a cluster every key a component uses carries one hash tag (its prefix in
 * braces), so all of them live in one slot: each Lua script, MGET and
 * pipeline touches keys of one slot, and the scripts run unchanged. The
 * components take different tags (the store `{<p>}`, the ledger
 * `{<p>:ledger}`, the login throttle `{<p>:login}`), so they may sit on
 * different masters. docs/ARCHITECTURE.md, "On a Redis Cluster", says why not finer.
 * On one server nothing is tagged: keys keep the names they have always had.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

export type RedisClient = Redis | Cluster;

/** Where Redis is: a redis:// URL, or a cluster's seed nodes (`host:port`). */
export type RedisTarget = { url: string } | { clusterNodes: string[] };

/**
 * How long commands wait out a failover (a master's replica promoted) before
 * they fail: retried every `retryDelayOnFailover` up to `maxRedirections` times.
 */
const FAILOVER_RETRY_MS = 200;
const FAILOVER_RETRIES = 100;

/** Connects to one server or to a cluster, with `options` for each server connection. */
export function connectRedis(target: RedisTarget, options: RedisOptions = {}): RedisClient {
  if ('url' in target) return new Redis(target.url, options);
  const clusterOptions: ClusterOptions = {
    redisOptions: options,
    enableAutoPipelining: options.enableAutoPipelining,
    retryDelayOnFailover: FAILOVER_RETRY_MS,
    retryDelayOnClusterDown: FAILOVER_RETRY_MS,
    retryDelayOnTryAgain: FAILOVER_RETRY_MS,
    maxRedirections: FAILOVER_RETRIES,
    clusterRetryStrategy: (times) => Math.min(100 * times, 1_000),
  };
  return new Cluster(target.clusterNodes.map(parseNode), clusterOptions);
}

function parseNode(node: string): { host: string; port: number } {
  const split = node.lastIndexOf(':');
  return { host: node.slice(0, split), port: Number(node.slice(split + 1)) };
}

/**
 * The prefix of a component's keys: as given on one server, in a hash tag on a cluster
 * (`group` tells the components apart, so they may be served by different masters).
 */
export function componentKeyPrefix(redis: RedisClient, prefix: string, group?: string): string {
  if (!redis.isCluster) return prefix;
  return `{${group === undefined ? prefix : `${prefix}:${group}`}}`;
}

/** Every key matching `pattern`: SCAN on one server, on every master of a cluster. */
export async function scanKeys(redis: RedisClient, pattern: string): Promise<string[]> {
  const servers: Redis[] = redis instanceof Cluster ? redis.nodes('master') : [redis];
  const found: string[] = [];
  for (const server of servers) {
    let cursor = '0';
    do {
      const [next, keys] = await server.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      found.push(...keys);
      cursor = next;
    } while (cursor !== '0');
  }
  return found;
}
